import Foundation
@testable import Journal
@testable import PageStore
import TestSupport
import Testing

/// Read-your-writes across processes: the `refresh()` of a reader that
/// follows the journal reflects every commit the writer acknowledged before
/// the call, whether or not the reader's journal has woken to it yet.
@Suite("Page store: a following reader's refresh sees acknowledged commits")
struct ReadYourWritesTests {
    /// The reader's tail thread (the one that wakes when the writer
    /// publishes) is held before it reads on, through a test seam, so the
    /// reader's journal learns nothing by itself. After each commit the test
    /// hands its LSN to the reader, as a writer in another process would
    /// tell a client, and the reader's refresh must reflect it: 12 KiB
    /// commits in 64 KiB segments, so the refreshes also read on into new
    /// segments. No timing: without the catch-up in `refresh()` the reader
    /// stays at the LSN of its open whatever the scheduling.
    @Test func refreshReflectsEveryAcknowledgedCommit() throws {
        let dir = TemporaryDirectory(on: .shm, "store-reader-ryw")
        let location = try dir.location()
        try PageStore.create(location: location, configuration: ReaderTests.configuration())
        var o = PageStoreOptions()
        ReaderTests.quiet(&o)
        let store = try PageStore.open(location: location, options: o)
        defer { store.close() }
        let writer = WriterHistory(store)
        try writer.commit(3)
        let reader = try PageStore.openReadOnly(location: try dir.location(), options: ReaderTests.readOptions(.follow))
        defer { reader.close() }
        let tail = try #require(reader.currentJournal?.tail)
        let gate = DispatchSemaphore(value: 0)
        tail.readingHook.withLock { $0 = { gate.wait() } }
        defer {
            tail.readingHook.withLock { $0 = nil }
            // The tail thread waits there at most once.
            gate.signal()
        }
        let opened = reader.lsn
        for i in 1...20 {
            try writer.commit(1)
            let acknowledged = store.durableLSN
            let reached = try reader.refresh()
            #expect(reached >= acknowledged, "commit \(i): the reader refreshed to \(reached) (opened at \(opened))")
            try writer.expectMatches(reader, "after commit \(i)")
        }
    }
}
