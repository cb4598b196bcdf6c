import Journal
import JournalStorage
import JournalTesting
import PageStore
import Testing

@Suite("Page store: checkpoints and recovery")
struct CheckpointTests {
    func open(_ disk: SimulatedDisk, retention: JournalRetention = .previousSnapshot, applyThreshold: Int = 8) throws -> PageStore {
        var o = manualOptions(applyThreshold: applyThreshold)
        o.journalRetention = retention
        o.logger.logLevel = .warning
        o.journal.logger.logLevel = .warning
        return try PageStore.open(location: PageStoreLocation(sharing: disk.storage()), options: o)
    }

    func commit(_ store: PageStore, _ pages: [UInt64: UInt64]) throws {
        let tx = try store.beginWrite()
        for (p, v) in pages { try tx.write(page: p, page(v)) }
        try tx.commit()
    }

    func check(_ store: PageStore, _ model: [UInt64: UInt64], pages: Range<UInt64>) throws {
        let r = try store.beginRead()
        for p in pages { #expect(value(of: try r.read(page: p)) == (model[p] ?? 0), "page \(p)") }
    }

    /// Segments small enough that checkpoints release some.
    static let segmentBytes = 64 << 10

    /// Creates a store of 256 pages on `disk`.
    func createStore(on disk: SimulatedDisk) throws {
        var config = smallConfiguration(pageCountMax: 256, recordBytesMax: 16 << 10)
        config.journal.segmentBytes = Self.segmentBytes
        try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: config)
    }

    @Test("apply, checkpoint and recovery cycles keep every commit; the journal is truncated behind the snapshots")
    func cycles() throws {
        let disk = SimulatedDisk(seed: 3)
        try createStore(on: disk)
        var model: [UInt64: UInt64] = [:]
        var counter: UInt64 = 0
        var released = 0
        for cycle in 0..<6 {
            let store = try open(disk)
            try check(store, model, pages: 0..<64)
            if cycle > 1 { #expect(store.recoveryReport.snapshotLSN > 0, "recovery starts from a snapshot") }
            for _ in 0..<40 {
                var pages: [UInt64: UInt64] = [:]
                for k in 0..<3 {
                    counter += 1
                    pages[(counter * 7 + UInt64(k) * 13) % 64] = counter
                }
                try commit(store, pages)
                model.merge(pages) { $1 }
            }
            let report = try store.checkpoint()
            #expect(report.lsn == store.appliedLSN)
            #expect(report.lsn == store.publishedLSN, "no reader holds the horizon back")
            #expect(report.slot == cycle % 2, "slots alternate")
            released += report.segmentsReleased
            // More commits after the checkpoint: replayed at the next open.
            for _ in 0..<5 {
                counter += 1
                try commit(store, [counter % 64: counter])
                model[counter % 64] = counter
            }
            try check(store, model, pages: 0..<64)
            store.close()
        }
        #expect(released > 0, "checkpoints release journal segments")
        let names = disk.durableImage().keys
        #expect(names.contains("snapshot-0.pss") && names.contains("snapshot-1.pss"))
    }

    @Test("a named reader position on the store's journal holds the checkpoints' truncation back until it advances")
    func readerPositionHoldsCheckpointTruncation() throws {
        let disk = SimulatedDisk(seed: 7)
        try createStore(on: disk)
        _ = try Journal.openForReading(storage: disk.storage()).createPosition(named: "cdc", at: 1)
        let store = try open(disk)
        defer { store.close() }
        var counter: UInt64 = 0
        for _ in 0..<3 {
            for _ in 0..<60 {
                counter += 1
                try commit(store, [counter % 64: counter, (counter + 1) % 64: counter])
            }
            #expect(try store.checkpoint().segmentsReleased == 0, "the position keeps every record from LSN 1")
        }
        // A consumer in another process has read everything applied.
        try Journal.openForReading(storage: disk.storage()).position(named: "cdc").advance(to: store.appliedLSN)
        counter += 1
        try commit(store, [counter % 64: counter])
        #expect(try store.checkpoint().segmentsReleased > 0)
    }

    @Test("statistics: checkpoints counted, the bytes since the last one, the journal truncated behind the snapshots")
    func statistics() throws {
        let disk = SimulatedDisk(seed: 5)
        try createStore(on: disk)
        let store = try open(disk)
        defer { store.close() }
        for n in 0..<40 { try commit(store, [UInt64(n % 8): UInt64(n + 1), 100: UInt64(n + 1)]) }
        let before = store.statistics
        #expect(before.durableLSN == 40)
        #expect(before.pageCount == 101)
        #expect(before.checkpointCount == 0)
        #expect(before.journalBytesSinceCheckpoint == 40 * TransactionRecord.recordBytes(pageCount: 2, pageBytes: 4096))
        try store.checkpoint()
        try store.checkpoint()
        try commit(store, [1: 99])
        let after = store.statistics
        #expect(after.checkpointCount == 2)
        #expect(after.automaticCheckpointCount == 0, "no threshold crossed")
        #expect(after.tableVersionCount == 1, "the checkpoints applied every earlier version")
        #expect(after.journalBytesSinceCheckpoint == TransactionRecord.recordBytes(pageCount: 1, pageBytes: 4096))
        #expect(after.journalSegmentCount >= 1, "the segment of the last commit")
        #expect(after.journalBytes == after.journalSegmentCount * Self.segmentBytes)
        #expect(after.journalOldestLSN > 1 && after.journalOldestLSN <= 41, "truncated behind the snapshots, the last commit kept")
    }

    @Test("automatic applies and checkpoints bound the table and the journal over a long run; readers keep their snapshots")
    func automaticBounds() throws {
        let disk = SimulatedDisk(seed: 21)
        var config = smallConfiguration(pageCountMax: 256, recordBytesMax: 16 << 10)
        config.journal.segmentBytes = 64 << 10
        let segmentBytes = config.journal.segmentBytes
        try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: config)
        let versionsMax = 32
        let journalThreshold = 128 << 10
        var o = manualOptions(applyThreshold: versionsMax)
        o.checkpointThresholdJournalBytes = journalThreshold
        o.logger.logLevel = .warning
        o.journal.logger.logLevel = .warning
        let store = try PageStore.open(location: PageStoreLocation(sharing: disk.storage()), options: o)
        var model: [UInt64: UInt64] = [:]
        // Readers open for `readerSpan` commits each, checking their snapshot
        // before they end.
        let readerSpan = 5
        var readers: [(tx: ReadTransaction, expected: [UInt64: UInt64], endAt: Int)] = []
        let commits = 600
        var journalBytesPeak = 0
        var tableVersionsPeak = 0
        for n in 1...commits {
            let pages: [UInt64: UInt64] = [UInt64(n % 40): UInt64(n), UInt64(40 + n % 7): UInt64(n)]
            try commit(store, pages)
            model.merge(pages) { $1 }
            if n % 3 == 0 { readers.append((try store.beginRead(), model, n + readerSpan)) }
            for r in readers where r.endAt == n {
                for p in UInt64(0)..<48 { #expect(value(of: try r.tx.read(page: p)) == (r.expected[p] ?? 0), "reader at \(r.tx.lsn), page \(p)") }
                r.tx.end()
            }
            readers.removeAll { $0.endAt == n }
            journalBytesPeak = max(journalBytesPeak, store.statistics.journalBytes)
            tableVersionsPeak = max(tableVersionsPeak, store.statistics.tableVersionCount)
        }
        let recordBytes = TransactionRecord.recordBytes(pageCount: 2, pageBytes: 4096)
        let journalWritten = commits * recordBytes
        #expect(journalWritten > 20 * journalThreshold, "the run writes far more than the bound")
        // previousSnapshot retention keeps two checkpoint intervals (each at
        // most the threshold plus what readers held back), in whole
        // segments. Each commit here is a batch of its own: its record takes
        // at most one 4 KiB block more than its bytes in the journal.
        let commitsPerInterval = journalThreshold / recordBytes + 1 + readerSpan + 1
        let journalBound = 2 * commitsPerInterval * (recordBytes + 4096) + 2 * segmentBytes
        #expect(journalBytesPeak <= journalBound, "journal peak \(journalBytesPeak) bytes, bound \(journalBound)")
        #expect(tableVersionsPeak <= versionsMax + 2 * (readerSpan + 1), "table peak \(tableVersionsPeak) versions")
        #expect(store.statistics.automaticCheckpointCount >= journalWritten / journalThreshold / 2)
        #expect(store.lastMaintenanceError == nil)
        try check(store, model, pages: 0..<48)
        store.close()
        let reopened = try open(disk)
        #expect(reopened.recoveryReport.snapshotLSN > UInt64(commits) - UInt64(journalThreshold / recordBytes) - 10, "recovery starts from a recent snapshot")
        try check(reopened, model, pages: 0..<48)
        reopened.close()
    }

    @Test("a corrupt newest snapshot falls back to the older one while the journal covers it; otherwise an explicit error")
    func corruptSnapshotFallsBack() throws {
        for retention in [JournalRetention.previousSnapshot, .newestSnapshot] {
            let disk = SimulatedDisk(seed: 4)
            var config = smallConfiguration(pageCountMax: 256, recordBytesMax: 16 << 10)
            config.journal.segmentBytes = 64 << 10  // 15 commits a segment: checkpoints release segments
            try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: config)
            var model: [UInt64: UInt64] = [:]
            let store = try open(disk, retention: retention)
            for round in 0..<3 {
                for i in 0..<30 {
                    let v = UInt64(round * 100 + i + 1)
                    try commit(store, [UInt64(i % 10): v])
                    model[UInt64(i % 10)] = v
                }
                try store.checkpoint()
            }
            store.close()
            // Slot 0 holds checkpoints 1 and 3: the newest. Damage a page.
            let image = disk.durableImage()["snapshot-0.pss"] ?? []
            #expect(image.count > 8192)
            #expect(disk.flipBit(file: "snapshot-0.pss", offset: image.count - 100))
            if retention == .previousSnapshot {
                let reopened = try open(disk)
                #expect(reopened.recoveryReport.snapshotSlot == 1, "fell back to the older snapshot")
                #expect(reopened.recoveryReport.rejectedSnapshots.count == 1)
                try check(reopened, model, pages: 0..<10)
                // The next checkpoint overwrites the corrupt slot.
                #expect(try reopened.checkpoint().slot == 0)
                reopened.close()
                let again = try open(disk)
                #expect(again.recoveryReport.snapshotSlot == 0)
                try check(again, model, pages: 0..<10)
                again.close()
            } else {
                #expect {
                    _ = try open(disk)
                } throws: { error in
                    guard case PageStoreError.corruption(let file, let detail) = error else { return false }
                    return file == "snapshots" && detail.contains("not covered by the journal")
                }
            }
        }
    }

    @Test("a snapshot of a newer format version is refused by name")
    func newerSnapshotFormat() throws {
        let disk = SimulatedDisk(seed: 5)
        try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: smallConfiguration(pageCountMax: 64))
        let store = try open(disk)
        try commit(store, [1: 1])
        try store.checkpoint()
        store.close()
        // Version field (offset 8) from 1 to 3: flip bit 1.
        #expect(disk.flipBit(file: "snapshot-0.pss", offset: 8, bit: 1))
        #expect(throws: PageStoreError.newerFormat(file: "snapshot-0.pss", found: 3, supported: 1)) { _ = try open(disk) }
    }

    @Test("a torn last transaction is discarded whole at recovery")
    func tornLastTransaction() throws {
        var cutsWithLoss = 0
        for boundary in 1..<12 {
            let disk = SimulatedDisk(seed: 100 + UInt64(boundary))
            try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: smallConfiguration(pageCountMax: 64))
            let store = try open(disk)
            try commit(store, [0: 1, 1: 1])
            disk.cutAfter(ioBoundary: disk.ioCount + boundary)
            var acknowledged = false
            do {
                // A 9-page transaction: its record spans many sectors.
                try commit(store, Dictionary(uniqueKeysWithValues: (0..<9).map { (UInt64($0), UInt64(2)) }))
                acknowledged = true
            } catch {}
            _ = disk.reboot()
            let reopened = try open(disk)
            let r = try reopened.beginRead()
            let values = try (0..<9).map { try value(of: r.read(page: UInt64($0))) }
            let old: [UInt64?] = [1, 1, 0, 0, 0, 0, 0, 0, 0]
            let new: [UInt64?] = Array(repeating: 2, count: 9)
            #expect(values == old || values == new, "all or nothing at boundary \(boundary)")
            if acknowledged { #expect(values == new) }
            if values == old { cutsWithLoss += 1 }
            r.end()
            reopened.close()
        }
        #expect(cutsWithLoss > 0)
    }
}
