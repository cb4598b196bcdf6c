import Journal
import JournalStorage
import JournalTesting
import PageStore
import Testing

@Suite("Page store: I/O errors and interrupted creation")
struct PageStoreFaultTests {
    func quietOptions(applyThreshold: Int = 8) -> PageStoreOptions {
        var o = manualOptions(applyThreshold: applyThreshold)
        o.logger.logLevel = .critical
        o.journal.logger.logLevel = .critical
        return o
    }

    func commit(_ store: PageStore, _ pages: [UInt64: UInt64]) throws {
        let tx = try store.beginWrite()
        for (p, v) in pages { try tx.write(page: p, page(v)) }
        try tx.commit()
    }

    func values(_ store: PageStore, pages: Range<UInt64>) throws -> [UInt64?] {
        let r = try store.beginRead()
        defer { r.end() }
        return try pages.map { value(of: try r.read(page: $0)) }
    }

    @Test("EIO on a journal write during commit: a typed error, the store refuses commits until reopened, then every acknowledged commit is there and the failed one is whole or absent")
    func journalWriteError() throws {
        var sawAbsent = false
        var sawWhole = false
        for seed: UInt64 in 1...8 {
            let disk = SimulatedDisk(seed: seed)
            try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: smallConfiguration(pageCountMax: 64))
            let store = try PageStore.open(location: PageStoreLocation(sharing: disk.storage()), options: quietOptions())
            for n in UInt64(1)...10 { try commit(store, [n % 4: n, 10 + n % 3: n]) }
            let acknowledged = try values(store, pages: 0..<16)
            var faults = SimulatedDisk.Faults()
            faults.writeErrorProbability = 1
            disk.faults = faults
            // Four pages, several sectors: the failed write may land in part.
            let failing = Dictionary(uniqueKeysWithValues: (UInt64(0)..<4).map { ($0, UInt64(100)) })
            #expect("seed \(seed)", performing: { try commit(store, failing) }, throws: { error in
                guard case PageStoreError.journal(.poisoned(let cause)) = error else { return false }
                return cause.errno == .ioError
            })
            disk.faults = SimulatedDisk.Faults()
            // Poisoned: no new transaction, no commit, no checkpoint.
            #expect(performing: { _ = try store.beginWrite() }, throws: { error in
                if case PageStoreError.journal(.poisoned) = error { return true } else { return false }
            })
            #expect(performing: { try store.checkpoint() }, throws: { error in
                if case PageStoreError.journal(.poisoned) = error { return true } else { return false }
            })
            // Reads of the durable state go on.
            #expect(try values(store, pages: 0..<16) == acknowledged)
            store.close()

            let reopened = try PageStore.open(location: PageStoreLocation(sharing: disk.storage()), options: quietOptions())
            let after = try values(reopened, pages: 0..<16)
            var whole = acknowledged
            for p in 0..<4 { whole[p] = 100 }
            #expect(after == acknowledged || after == whole, "seed \(seed): all or nothing, acknowledged kept")
            if after == acknowledged { sawAbsent = true } else if after == whole { sawWhole = true }
            try commit(reopened, [20: 1])
            #expect(try values(reopened, pages: 20..<21) == [1], "the reopened store commits again")
            reopened.close()
        }
        #expect(sawAbsent || sawWhole)
    }

    @Test("EIO on a snapshot write during a checkpoint: a typed error, the store goes on, and recovery uses the older snapshot and the journal")
    func snapshotWriteError() throws {
        let disk = SimulatedDisk(seed: 9)
        var config = smallConfiguration(pageCountMax: 64, recordBytesMax: 16 << 10)
        config.journal.segmentBytes = 64 << 10
        try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: config)
        let store = try PageStore.open(location: PageStoreLocation(sharing: disk.storage()), options: quietOptions())
        var model: [UInt64: UInt64] = [:]
        var n: UInt64 = 0
        func commits(_ count: Int) throws {
            for _ in 0..<count {
                n += 1
                try commit(store, [n % 20: n])
                model[n % 20] = n
            }
        }
        try commits(30)
        let first = try store.checkpoint()
        #expect(first.slot == 0)
        try commits(30)
        var faults = SimulatedDisk.Faults()
        faults.files = ["snapshot-1.pss"]
        faults.durableWriteErrorProbability = 1
        disk.faults = faults
        #expect(performing: { try store.checkpoint() }, throws: { error in
            guard case PageStoreError.io(let cause) = error else { return false }
            return cause.errno == .ioError
        })
        // The journal is untouched: commits go on.
        try commits(10)
        let expected = try values(store, pages: 0..<20)
        #expect(expected == (0..<20).map { model[$0] ?? 0 })
        store.close()
        disk.faults = SimulatedDisk.Faults()
        let reopened = try PageStore.open(location: PageStoreLocation(sharing: disk.storage()), options: quietOptions())
        #expect(reopened.recoveryReport.snapshotSlot == 0, "the older snapshot")
        #expect(reopened.recoveryReport.snapshotLSN == first.lsn)
        #expect(try values(reopened, pages: 0..<20) == expected)
        // The next checkpoint rewrites the failed slot.
        #expect(try reopened.checkpoint().slot == 1)
        reopened.close()
    }

    @Test("an automatic checkpoint that fails does not fail the commit that started it; the error is kept")
    func automaticCheckpointError() throws {
        let disk = SimulatedDisk(seed: 10)
        try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: smallConfiguration(pageCountMax: 64))
        var options = quietOptions()
        options.checkpointThresholdJournalBytes = 64 << 10
        let store = try PageStore.open(location: PageStoreLocation(sharing: disk.storage()), options: options)
        var faults = SimulatedDisk.Faults()
        faults.files = Set(PageStoreLocationNames.snapshots)
        faults.durableWriteErrorProbability = 1
        disk.faults = faults
        for v in UInt64(1)...40 { try commit(store, [v % 8: v]) }
        #expect(store.statistics.automaticCheckpointCount == 0)
        guard case .io(let cause)? = store.lastMaintenanceError else {
            Issue.record("expected an I/O error, got \(String(describing: store.lastMaintenanceError))")
            return
        }
        #expect(cause.errno == .ioError)
        disk.faults = SimulatedDisk.Faults()
        for v in UInt64(41)...60 { try commit(store, [v % 8: v]) }
        #expect(store.statistics.automaticCheckpointCount > 0, "the next crossing tries again")
        store.close()
        let reopened = try PageStore.open(location: PageStoreLocation(sharing: disk.storage()), options: quietOptions())
        // Page p holds the last v in 1...60 with v % 8 == p.
        #expect(try values(reopened, pages: 0..<8) == (0..<8).map { p in (1...60).last { $0 % 8 == p }.map(UInt64.init) })
        reopened.close()
    }

    @Test("a create cut at every I/O boundary: open says \"not a store\" (interrupted create), create again succeeds")
    func interruptedCreate() throws {
        var boundary = 0
        var interrupted = 0
        while true {
            let disk = SimulatedDisk(seed: 40 + UInt64(boundary))
            disk.cutAfter(ioBoundary: disk.ioCount + boundary)
            var returned = false
            do {
                try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: smallConfiguration(pageCountMax: 64))
                returned = true
            } catch {}
            let cut = disk.isPoweredOff
            let storage = disk.reboot()
            let location = PageStoreLocation(sharing: storage)
            if !cut {
                #expect(returned)
                break
            }
            let leftovers = disk.durableImage().keys.contains { $0.hasPrefix("journal.meta") || $0.hasPrefix("store.meta") }
            let opened = Result { () throws(PageStoreError) -> PageStore in try PageStore.open(location: location, options: quietOptions()) }
            switch opened {
            case .success(let store):
                // The cut came after the completion mark.
                store.close()
            case .failure(let error):
                guard case .notAStore(_, let reason) = error else {
                    Issue.record("boundary \(boundary): \(error)")
                    break
                }
                interrupted += 1
                if leftovers { #expect(reason.contains("interrupted create"), "boundary \(boundary): \(reason)") }
                try PageStore.create(location: location, configuration: smallConfiguration(pageCountMax: 64))
            }
            let store = try PageStore.open(location: location, options: quietOptions())
            try commit(store, [1: 7])
            #expect(try values(store, pages: 1..<2) == [7], "boundary \(boundary)")
            store.close()
            boundary += 1
            #expect(boundary < 100, "create ends within 100 I/O boundaries")
            if boundary >= 100 { break }
        }
        #expect(interrupted > 0)
    }

    @Test("create refuses a directory with journal segments but no store.meta, and a complete store")
    func createRefusesForeignFiles() throws {
        let disk = SimulatedDisk(seed: 50)
        let storage = disk.storage()
        try Journal.create(storage: storage, configuration: smallConfiguration().journal)
        let journal = try Journal.open(storage: storage, options: quietOptions().journal)
        _ = try journal.appendBlocking([1, 2, 3])
        journal.close()
        #expect(performing: {
            try PageStore.create(location: PageStoreLocation(sharing: storage), configuration: smallConfiguration())
        }, throws: { error in
            if case PageStoreError.alreadyExists = error { return true } else { return false }
        })
        let other = SimulatedDisk(seed: 51)
        try PageStore.create(location: PageStoreLocation(sharing: other.storage()), configuration: smallConfiguration())
        #expect(throws: PageStoreError.alreadyExists(path: other.storage().path)) {
            try PageStore.create(location: PageStoreLocation(sharing: other.storage()), configuration: smallConfiguration())
        }
    }
}

enum PageStoreLocationNames {
    static let snapshots = ["snapshot-0.pss", "snapshot-1.pss"]
}
