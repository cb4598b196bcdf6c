import Journal
import JournalFileStorage
import JournalStorage
import JournalTesting
import PageStore
import TestSupport
import Testing

/// A writer's history: the value of each of the first 64 pages after each
/// commit, by LSN, to check a reader against the state at its LSN.
final class WriterHistory: @unchecked Sendable {
    // @unchecked: used by one test thread at a time (and the injected rewrite, on that thread).
    let store: PageStore
    private(set) var states: [LSN: [UInt64: UInt64]] = [0: [:]]
    private(set) var current: [UInt64: UInt64] = [:]
    private var counter: UInt64 = 0
    private(set) var released = 0
    private(set) var checkpoints: [Int] = []

    init(_ store: PageStore) { self.store = store }

    /// Commits `count` transactions of three pages each, durably.
    func commit(_ count: Int) throws {
        for _ in 0..<count {
            let tx = try store.beginWrite()
            var pages: [UInt64: UInt64] = [:]
            for k in 0..<3 {
                counter += 1
                pages[(counter * 7 + UInt64(k) * 13) % 64] = counter
            }
            for (p, v) in pages { try tx.write(page: p, page(v)) }
            let lsn = try tx.commit()
            current.merge(pages) { $1 }
            states[lsn] = current
        }
    }

    func checkpoint() throws {
        let report = try store.checkpoint()
        released += report.segmentsReleased
        checkpoints.append(report.slot)
    }

    /// The reader's pages equal the writer's state at the reader's LSN.
    func expectMatches(_ reader: PageStoreReader, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try reader.withSnapshot { (s: PageStoreSnapshot) throws in
            guard let expected = states[s.lsn] else {
                Issue.record("the reader's LSN \(s.lsn) is no commit of the writer", sourceLocation: sourceLocation)
                return
            }
            let note = comment.map { " (\($0))" } ?? ""
            for p in UInt64(0)..<64 {
                let got = value(of: try s.read(page: p))
                #expect(got == (expected[p] ?? 0), "page \(p) at LSN \(s.lsn)\(note)", sourceLocation: sourceLocation)
            }
        }
    }
}

@Suite("Page store: read-only readers beside a writer")
struct ReaderTests {
    /// A store of 256 pages with 64 KiB segments, so checkpoints release
    /// and recycle segments.
    static func configuration() -> PageStoreConfiguration {
        var config = smallConfiguration(pageCountMax: 256, recordBytesMax: 16 << 10)
        config.journal.segmentBytes = 64 << 10
        return config
    }

    static func quiet(_ o: inout PageStoreOptions) {
        o.logger.logLevel = .warning
        o.journal.logger.logLevel = .warning
    }

    /// A store on a fresh simulated disk, open for writing on the manual
    /// runtime with `retention`.
    static func simulatedWriter(seed: UInt64, retention: JournalRetention) throws -> (SimulatedDisk, PageStore) {
        let disk = SimulatedDisk(seed: seed)
        let location = PageStoreLocation(sharing: disk.storage())
        try PageStore.create(location: location, configuration: configuration())
        var o = manualOptions(applyThreshold: 16)
        o.journalRetention = retention
        quiet(&o)
        return (disk, try PageStore.open(location: location, options: o))
    }

    static func isLocked(_ error: PageStoreError) -> Bool {
        guard case .locked = error else { return false }
        return "\(error)".contains("in use by another process")
    }

    static func readOptions(_ access: PageStoreJournalAccess) -> PageStoreReadOptions {
        var r = PageStoreReadOptions()
        r.journalAccess = access
        quiet(&r.store)
        return r
    }

    /// The simulated disk (the journal reopened at each refresh): the
    /// writer commits, checkpoints into both slots in turn, truncates and
    /// recycles; after each step the reader's refresh lands exactly on the
    /// writer's durable LSN and every page equals the writer's state there.
    /// A reader left behind two checkpoints rebuilds from the newer one.
    @Test func readerBesideWriterOnTheSimulatedDisk() throws {
        let (disk, store) = try Self.simulatedWriter(seed: 11, retention: .newestSnapshot)
        defer { store.close() }
        let writer = WriterHistory(store)
        let reader = try PageStore.openReadOnly(location: PageStoreLocation(sharing: disk.storage()), options: Self.readOptions(.reopen))
        defer { reader.close() }
        #expect(reader.lsn == 0)
        var lastLSN: LSN = 0
        for round in 0..<12 {
            try writer.commit(15)
            if round % 2 == 1 { try writer.checkpoint() }
            let lsn = try reader.refresh()
            #expect(lsn == store.durableLSN, "round \(round)")
            #expect(lsn >= lastLSN)
            lastLSN = lsn
            try writer.expectMatches(reader, "round \(round)")
        }
        #expect(Set(writer.checkpoints) == [0, 1], "both slots written")
        #expect(writer.released > 0, "segments released")
        // Left behind: two checkpoints truncate past the reader's LSN.
        try writer.commit(30)
        try writer.checkpoint()
        try writer.commit(30)
        try writer.checkpoint()
        let loads = reader.statistics.snapshotLoads
        #expect(try reader.refresh() == store.durableLSN)
        #expect(reader.statistics.snapshotLoads == loads + 1, "rebuilt from the newer snapshot")
        #expect(reader.snapshotLSN > 0)
        try writer.expectMatches(reader, "after the rebuild")
        // A fresh reader starts from the newest snapshot.
        let second = try PageStore.openReadOnly(location: PageStoreLocation(sharing: disk.storage()), options: Self.readOptions(.reopen))
        defer { second.close() }
        #expect(second.lsn == store.durableLSN)
        try writer.expectMatches(second)
    }

    /// Files on tmpfs, the reader following the writer's journal: through
    /// commits, checkpoints into both slots, truncation and recycling, every
    /// LSN the reader reaches (woken by `updates()`, no polling) is a commit
    /// of the writer and its pages are the writer's state there; the
    /// reader reaches the writer's last commit. A second writer is refused.
    @Test func followingReaderOnFiles() async throws {
        let dir = TemporaryDirectory(on: .shm, "store-reader")
        let location = try dir.location()
        try PageStore.create(location: location, configuration: Self.configuration())
        var o = PageStoreOptions()
        o.journalRetention = .newestSnapshot
        o.checkpointThresholdJournalBytes = nil
        Self.quiet(&o)
        let store = try PageStore.open(location: location, options: o)
        defer { store.close() }
        let refused = #expect(throws: PageStoreError.self) { try PageStore.open(location: try dir.location(), options: o) }
        #expect(refused.map(Self.isLocked) == true, "a second writer is refused: \(String(describing: refused))")
        let writer = WriterHistory(store)
        try writer.commit(5)
        let reader = try PageStore.openReadOnly(location: try dir.location(), options: Self.readOptions(.follow))
        defer { reader.close() }
        try writer.expectMatches(reader, "at the open")
        var updates = try reader.updates().makeAsyncIterator()
        for round in 0..<10 {
            try writer.commit(20)
            if round % 2 == 1 { try writer.checkpoint() }
            let target = store.durableLSN
            while reader.lsn < target {
                guard try await updates.next() != nil else { break }
                try writer.expectMatches(reader, "round \(round)")
            }
            #expect(reader.lsn == target, "round \(round)")
        }
        #expect(Set(writer.checkpoints) == [0, 1], "both slots written")
        #expect(writer.released > 0, "segments released")
    }

    /// A slot rewritten in place while the reader reads it (the storage
    /// wrapper reads a slot by name on every read, and the writer
    /// checkpoints twice into the same slot after the reader read its
    /// header): the reader detects it, tries again, and shows the writer's
    /// state at its LSN.
    @Test func slotRewrittenDuringTheReadIsRetried() throws {
        let (disk, store) = try Self.simulatedWriter(seed: 5, retention: .previousSnapshot)
        defer { store.close() }
        let writer = WriterHistory(store)
        try writer.commit(20)
        try writer.checkpoint()
        let wrapper = InPlaceSlots(disk.storage())
        wrapper.onFirstBodyRead = {
            try? writer.commit(10)
            try? writer.checkpoint()
            try? writer.commit(10)
            try? writer.checkpoint()
        }
        let reader = try PageStore.openReadOnly(location: PageStoreLocation(root: wrapper, journal: disk.storage()), options: Self.readOptions(.reopen))
        defer { reader.close() }
        #expect(wrapper.injected, "the rewrite ran during the read")
        #expect(reader.statistics.retries >= 1, "the torn read was detected")
        #expect(reader.statistics.lastRetryReason?.contains("rewritten") == true, "\(reader.statistics)")
        #expect(reader.lsn == store.durableLSN)
        try writer.expectMatches(reader)
    }

    /// A damaged newest slot whose older alternative the journal no longer
    /// covers: a typed `corruption`, never wrong data.
    @Test func damagedSlotWithoutAlternativeIsAnError() throws {
        let (disk, store) = try Self.simulatedWriter(seed: 7, retention: .newestSnapshot)
        defer { store.close() }
        let writer = WriterHistory(store)
        try writer.commit(40)
        try writer.checkpoint()
        try writer.commit(40)
        try writer.checkpoint()
        #expect(writer.released > 0)
        let newest = "snapshot-\(writer.checkpoints.last ?? 0).pss"
        #expect(disk.flipBit(file: newest, offset: 4096), "a bit of the checksum table")
        let options = Self.readOptions(.reopen)
        let error = #expect(throws: PageStoreError.self) {
            try PageStore.openReadOnly(location: PageStoreLocation(sharing: disk.storage()), options: options)
        }
        guard case .corruption(_, let detail) = error else {
            Issue.record("expected corruption, got \(String(describing: error))")
            return
        }
        #expect(detail.contains("not covered"), "\(detail)")
    }
}
