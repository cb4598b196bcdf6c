import Foundation
import Journal
import JournalFileStorage
import JournalPrimitives
import Synchronization
import TestSupport
import Testing

@Suite struct ConcurrentAppendTests {
    /// Many threads append at once: every append returns a unique LSN that
    /// is durable when it returns, each thread's LSNs increase, and every
    /// record reads back as written.
    @Test(arguments: TestFileSystem.allCases)
    func threadsAppendConcurrently(fs: TestFileSystem) throws {
        let dir = TemporaryDirectory(on: fs)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 1 << 20))
        var options = JournalOptions()
        options.batchBytesMax = 16 << 10
        // Records above 300 B are copied outside the lock, the others under
        // it: batches mix both, with copies still running when sealed.
        options.copyOutsideLockBytes = 300
        let journal = try Journal.open(path: dir.path, options: options)
        let threads = 16
        let perThread = 150
        let results = LockedValue<[[(LSN, Int)]]>(Array(repeating: [], count: threads))
        let violations = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var mine: [(LSN, Int)] = []
            for i in 0..<perThread {
                let id = t * perThread + i
                do {
                    let lsn = try journal.appendBlocking(payload(id, bytes: 16 + id % 700))
                    if journal.durableLSN < lsn { violations.add(1, ordering: .relaxed) }
                    if let last = mine.last, last.0 >= lsn { violations.add(1, ordering: .relaxed) }
                    mine.append((lsn, id))
                } catch {
                    violations.add(1000, ordering: .relaxed)
                }
            }
            results.withLock { $0[t] = mine }
        }
        #expect(violations.load(ordering: .relaxed) == 0)
        let all = results.withLock { $0.flatMap { $0 } }.sorted { $0.0 < $1.0 }
        #expect(all.map(\.0) == (1...LSN(threads * perThread)).map { $0 }, "LSNs are unique and dense")
        for (lsn, id) in all { #expect(try journal.record(at: lsn) == payload(id, bytes: 16 + id % 700)) }
        journal.close()
        let reopened = try Journal.openForReading(path: dir.path)
        #expect(reopened.recoveryReport.lastLSN == LSN(threads * perThread))
        #expect(reopened.recoveryReport.outcome == .clean)
    }

    /// Tasks use the async API; enqueue + waitUntilDurable behave the same.
    @Test func asyncTasksAppend() async throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 1 << 20))
        var options = JournalOptions()
        options.copyOutsideLockBytes = 100  // the tasks' 128 B records are copied outside the lock
        let journal = try Journal.open(path: dir.path, options: options)
        let lsns = try await withThrowingTaskGroup(of: [LSN].self) { group in
            for t in 0..<64 {
                group.addTask {
                    var out: [LSN] = []
                    for i in 0..<20 {
                        let lsn = try await journal.append(payload(t * 20 + i, bytes: 128))
                        #expect(journal.durableLSN >= lsn)
                        out.append(lsn)
                    }
                    return out
                }
            }
            var all: [LSN] = []
            for try await part in group {
                #expect(part == part.sorted())
                all += part
            }
            return all
        }
        #expect(lsns.sorted() == (1...1280).map { LSN($0) })
        let batch = try await journal.append(contentsOf: [[1], [2], [3]])
        #expect(batch == [1281, 1282, 1283])
        let pending = try journal.enqueue([9, 9])
        try await journal.waitUntilDurable(pending)
        #expect(journal.durableLSN >= pending)
        journal.close()
    }

    /// Appenders that outrun the disk wait; the journal never holds more
    /// than its fixed batch buffers, and every record still lands.
    @Test func backpressureKeepsMemoryBounded() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 4 << 20))
        var options = JournalOptions()
        options.batchBytesMax = 4096
        options.inFlightBatchesMax = 1
        let journal = try Journal.open(path: dir.path, options: options)
        var last: LSN = 0
        for i in 0..<3000 { last = try journal.enqueue(payload(i, bytes: 900)) }
        try journal.waitUntilDurableBlocking(last)
        #expect(journal.durableLSN == 3000)
        #expect(try journal.records(from: 1).count == 3000)
        journal.close()
    }
}
