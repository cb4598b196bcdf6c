import Foundation
@testable import Journal
import JournalFileStorage
import TestSupport
import Testing

/// `catchUpWithWriter()`: a journal open for following reads on, in the
/// calling thread, to the durable LSN the writer published, so a record the
/// writer acknowledged is readable without waiting for the tail thread.
@Suite struct FollowCatchUpTests {
    /// The reading journal's tail thread is held before it reads on (a test
    /// seam), so only the catch-up can move it. Every 100 appends (300 B
    /// records in 128 KiB segments: through two rollovers) the catch-up
    /// must reach the record just acknowledged and read back the records
    /// since the last one, in order and intact. No timing: without the
    /// catch-up the reading journal stays at the LSN of its open.
    @Test func catchUpReadsOnToTheWritersLastAcknowledgedRecord() throws {
        let dir = TemporaryDirectory(on: .shm, "follow-catch-up")
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let journal = try Journal.open(path: dir.path)
        defer { journal.close() }
        var last = try journal.appendBlocking(payload(0, bytes: 300))
        let reader = try Journal.openForFollowing(path: dir.path)
        defer { reader.close() }
        let tail = try #require(reader.tail)
        let gate = DispatchSemaphore(value: 0)
        tail.readingHook.withLock { $0 = { gate.wait() } }
        defer {
            tail.readingHook.withLock { $0 = nil }
            // The tail thread waits there at most once.
            gate.signal()
        }
        for i in 1...1000 {
            let lsn = try journal.appendBlocking(payload(i, bytes: 300))
            guard i % 100 == 0 else { continue }
            #expect(try reader.catchUpWithWriter() >= lsn, "record \(lsn) was acknowledged")
            var read: [LSN] = []
            try reader.forEachRecord(from: last + 1, through: lsn) { at, bytes in
                #expect(Array(bytes) == payload(Int(at) - 1, bytes: 300), "record \(at)")
                read.append(at)
                return true
            }
            #expect(read == Array(last + 1...lsn))
            last = lsn
        }
        tail.readingHook.withLock { $0 = nil }
        gate.signal()
        reader.close()
        #expect(throws: JournalError.closed) { try reader.catchUpWithWriter() }
    }
}
