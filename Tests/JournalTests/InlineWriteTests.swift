import Foundation
import Journal
import JournalFileStorage
import JournalPrimitives
import JournalStorage
import JournalTesting
import Metrics
import MetricsTestKit
import Synchronization
import TestSupport
import Testing

/// Inline writes (`JournalOptions.inlineWrites`): an appender that finds the
/// journal idle writes its batch itself; appenders that arrive meanwhile
/// group-commit through the I/O thread; order and durability are the same.
@Suite struct InlineWriteTests {
    /// Options with a metrics prefix of their own, so the test can count the
    /// inline writes (`<prefix>.write.inline`).
    static func options(_ label: String) -> JournalOptions {
        _ = testMetrics
        var options = JournalOptions()
        options.metricsPrefix = "inline-\(label)-\(UUID().uuidString.prefix(8))"
        options.copyOutsideLockBytes = 4096
        return options
    }

    static func inlineWrites(_ options: JournalOptions) -> Int64 {
        (try? testMetrics.expectCounter("\(options.metricsPrefix).write.inline").totalValue) ?? 0
    }

    /// A lone appender always finds the journal idle: every append is one
    /// inline write, small records (copied under the lock) and large ones
    /// (copied after it) alike, across segment rollovers (the inline writer
    /// writes the new segment's header), and everything recovers.
    @Test(arguments: TestFileSystem.allCases)
    func aLoneAppenderWritesInline(fs: TestFileSystem) throws {
        let dir = TemporaryDirectory(on: fs)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let options = Self.options("lone")
        let journal = try Journal.open(path: dir.path, options: options)
        let sizes = (0..<60).map { i in i % 3 == 0 ? 9000 + i : 40 + i }
        for (i, size) in sizes.enumerated() {
            let lsn = try journal.appendBlocking(payload(i, bytes: size))
            #expect(lsn == LSN(i + 1))
            #expect(journal.durableLSN >= lsn, "durable when it returns")
        }
        #expect(Self.inlineWrites(options) == Int64(sizes.count), "every append went inline")
        #expect(journal.segmentSummaries.count > 1, "the appends rolled over")
        for (i, size) in sizes.enumerated() { #expect(try journal.record(at: LSN(i + 1)) == payload(i, bytes: size)) }
        journal.close()
        let reopened = try Journal.openForReading(path: dir.path)
        #expect(reopened.recoveryReport.lastLSN == LSN(sizes.count))
        #expect(reopened.recoveryReport.outcome == .clean)
    }

    /// With inline writes off, every batch goes through the I/O thread.
    @Test func inlineWritesCanBeTurnedOff() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        var options = Self.options("off")
        options.inlineWrites = false
        let journal = try Journal.open(path: dir.path, options: options)
        for i in 0..<20 { #expect(try journal.appendBlocking(payload(i, bytes: 100)) == LSN(i + 1)) }
        #expect(journal.durableLSN == 20)
        #expect(Self.inlineWrites(options) == 0)
        journal.close()
    }

    /// Threads appending in bursts beside one that appends alone, record by
    /// record, and tasks (inline from tasks on): the idle moments go inline,
    /// the rest through the I/O thread, with one batch in flight at most
    /// (so the I/O thread waits for the inline write to finish before it
    /// submits) or several. Every append is durable when it returns, each
    /// appender's LSNs increase, the LSNs are dense, every record reads back
    /// and recovery finds the same log.
    @Test(arguments: [1, 4])
    func concurrentAppendersBesideALoneOne(inFlightBatchesMax: Int) async throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 1 << 20))
        var options = Self.options("mixed")
        options.inFlightBatchesMax = inFlightBatchesMax
        options.batchBytesMax = 16 << 10
        options.inlineWritesFromTasks = true
        let journal = try Journal.open(path: dir.path, options: options)
        // First alone: the journal is idle, so these go inline.
        var expected: [LSN: [UInt8]] = [:]
        for i in 0..<10 {
            let p = payload(100_000 + i, bytes: 64)
            expected[try journal.appendBlocking(p)] = p
        }
        #expect(Self.inlineWrites(options) == 10)
        let threads = 6
        let perThread = 60
        let results = LockedValue<[[(LSN, [UInt8])]]>(Array(repeating: [], count: threads))
        let violations = Violations(journal)
        async let tasks: [(LSN, [UInt8])] = withThrowingTaskGroup(of: [(LSN, [UInt8])].self) { group in
            for t in 0..<4 {
                group.addTask {
                    var out: [(LSN, [UInt8])] = []
                    for i in 0..<30 {
                        let p = payload(200_000 + t * 100 + i, bytes: 32 + (i * 97) % 6000)
                        let lsn = try await journal.append(p)
                        violations.check(lsn, after: out.last?.0)
                        out.append((lsn, p))
                    }
                    return out
                }
            }
            var all: [(LSN, [UInt8])] = []
            for try await part in group { all += part }
            return all
        }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var mine: [(LSN, [UInt8])] = []
            for i in 0..<perThread {
                let id = t * perThread + i
                do {
                    if t == 0 {
                        // The lone appender: one small record at a time.
                        let p = payload(id, bytes: 24)
                        let lsn = try journal.appendBlocking(p)
                        violations.check(lsn, after: mine.last?.0)
                        mine.append((lsn, p))
                    } else {
                        // A burst: several records, some copied outside the lock.
                        let burst = (0..<(1 + i % 4)).map { k in payload(id * 8 + k, bytes: 16 + (id * 131 + k * 977) % 9000) }
                        let lsns = try journal.appendBlocking(contentsOf: burst)
                        for (lsn, p) in zip(lsns, burst) {
                            violations.check(lsn, after: mine.last?.0)
                            mine.append((lsn, p))
                        }
                    }
                } catch {
                    violations.count.add(1000, ordering: .relaxed)
                }
            }
            results.withLock { $0[t] = mine }
        }
        let fromTasks = try await tasks
        #expect(violations.count.load(ordering: .relaxed) == 0)
        for (lsn, p) in results.withLock({ $0.flatMap { $0 } }) + fromTasks { expected[lsn] = p }
        let count = 10 + perThread + (1..<threads).reduce(0) { n, _ in n + (0..<perThread).reduce(0) { $0 + 1 + $1 % 4 } } + 4 * 30
        #expect(expected.count == count, "no LSN was given twice")
        #expect(expected.keys.sorted() == (1...LSN(count)).map { $0 }, "LSNs are dense")
        #expect(journal.durableLSN == LSN(count))
        for (lsn, p) in expected { #expect(try journal.record(at: lsn) == p) }
        journal.close()
        let reopened = try Journal.openForReading(path: dir.path)
        #expect(reopened.recoveryReport.lastLSN == LSN(count))
        #expect(reopened.recoveryReport.outcome == .clean)
        for (lsn, p) in expected { #expect(try reopened.record(at: lsn) == p) }
    }

    /// An EIO from an inline write poisons the journal exactly as one from
    /// the I/O thread's queue does: the append fails, later appends fail,
    /// other waiters fail, and reopening recovers what was durable.
    @Test func eioFromAnInlineWritePoisons() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let faulty = FaultyStorage(try dir.storage(), failingWrites: [4])
        let options = Self.options("eio")
        let journal = try Journal.open(storage: faulty, options: options)
        for i in 1...3 { #expect(try journal.appendBlocking([UInt8(i)]) == LSN(i)) }
        #expect(Self.inlineWrites(options) == 3)
        do {
            _ = try journal.appendBlocking([4])
            Issue.record("the failed write was acknowledged")
        } catch {
            guard case .poisoned(let e) = error else { Issue.record("got \(error)"); return }
            #expect(e.errno == .ioError && e.operation == "pwrite", "the inline write failed")
        }
        #expect(Self.inlineWrites(options) == 4)
        #expect(faulty.writesSubmitted == 4)
        #expect(throws: JournalError.self) { try journal.appendBlocking([5]) }
        #expect(throws: JournalError.self) { try journal.enqueue([5]) }
        #expect(journal.durableLSN == 3)
        journal.close()
        try expectReopenedToAppend(dir.path, after: 3)
    }
}

/// Counts appends that returned before they were durable or out of order.
final class Violations: Sendable {
    let journal: Journal
    let count = Atomic<Int>(0)

    init(_ journal: Journal) { self.journal = journal }

    func check(_ lsn: LSN, after previous: LSN?) {
        if journal.durableLSN < lsn { count.add(1, ordering: .relaxed) }
        if let previous, previous >= lsn { count.add(1, ordering: .relaxed) }
    }
}
