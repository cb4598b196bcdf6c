import Journal
import JournalFileStorage
import JournalStorage
import JournalTesting
import PageStore
import TestSupport
import Testing

/// A reader's updates without shared memory (polling), and journal
/// segments recycled in the middle of a read.
@Suite("Page store: reader updates by polling, and recycling under a read")
struct ReaderRetryTests {
    /// A `.reopen` reader (no follow file on the simulated disk) follows the
    /// writer through `updates()` by polling: each element is a commit of
    /// the writer with its pages, through checkpoints and truncation, and
    /// the sequence ends when the reader closes.
    @Test func reopenReaderUpdatesByPolling() async throws {
        let (disk, store) = try ReaderTests.simulatedWriter(seed: 21, retention: .newestSnapshot)
        defer { store.close() }
        let writer = WriterHistory(store)
        var options = ReaderTests.readOptions(.reopen)
        options.reopenPollMilliseconds = 1
        let reader = try PageStore.openReadOnly(location: PageStoreLocation(sharing: disk.storage()), options: options)
        defer { reader.close() }
        var updates = try reader.updates().makeAsyncIterator()
        for round in 0..<6 {
            try writer.commit(15)
            if round % 2 == 1 { try writer.checkpoint() }
            let target = store.durableLSN
            while reader.lsn < target {
                guard try await updates.next() != nil else { break }
                try writer.expectMatches(reader, "round \(round)")
            }
            #expect(reader.lsn == target, "round \(round)")
        }
        #expect(writer.released > 0, "segments released")
        reader.close()
        #expect(try await updates.next() == nil, "the sequence ends when the reader closes")
    }

    /// Files on tmpfs, the reader with a journal of its own (as in another
    /// process) and the writer beside it. While the reader reads the older
    /// snapshot slot (a storage wrapper runs the writer's step at its first
    /// read past the slot's header: no timing), the writer checkpoints into
    /// the other slot, truncating the journal behind it, and commits on
    /// until the released segment holding the records the reader needs
    /// next is reused and overwritten. The reader loses that try (the
    /// journal starts past it, or the recycled file no longer holds the
    /// records), rebuilds from the newer snapshot, and shows the writer's
    /// state at its LSN.
    @Test(arguments: [PageStoreJournalAccess.follow, .reopen])
    func segmentsRecycledInTheMiddleOfTheReadAreRetried(access: PageStoreJournalAccess) throws {
        let dir = TemporaryDirectory(on: .shm, "store-reader-recycle")
        let location = try dir.location()
        try PageStore.create(location: location, configuration: ReaderTests.configuration())
        var o = PageStoreOptions()
        o.journalRetention = .newestSnapshot
        o.checkpointThresholdJournalBytes = nil
        // Released segments are kept for reuse (up to 8, the first released
        // first) and reused last kept first: the writer's 120 commits below
        // (about 24 segments) reuse every one, the reader's included.
        o.journal.recycledSegmentsMax = 8
        ReaderTests.quiet(&o)
        let store = try PageStore.open(location: location, options: o)
        defer { store.close() }
        let writer = WriterHistory(store)
        try writer.commit(20)
        try writer.checkpoint()
        // The records after that checkpoint span several segments.
        try writer.commit(60)
        let released = writer.released
        let readerLocation = try dir.location()
        let wrapper = InPlaceSlots(readerLocation.root)
        wrapper.onFirstBodyRead = {
            try? writer.checkpoint()
            try? writer.commit(120)
        }
        let reader = try PageStore.openReadOnly(
            location: PageStoreLocation(root: wrapper, journal: readerLocation.journal), options: ReaderTests.readOptions(access))
        defer { reader.close() }
        #expect(wrapper.injected, "the writer's step ran during the read")
        #expect(writer.released > released, "the checkpoint released segments under the read")
        #expect(reader.statistics.retries >= 1, "the try was lost: \(reader.statistics)")
        #expect(reader.statistics.snapshotLoads >= 2, "rebuilt from the newer snapshot")
        try writer.expectMatches(reader, "after the retry")
        // A `.follow` reader's refresh reads on to the writer's published
        // durable LSN itself (its tail thread may not have read it yet).
        #expect(try reader.refresh() == store.durableLSN)
        try writer.expectMatches(reader, "after a refresh")
    }
}
