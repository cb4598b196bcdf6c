import Foundation
import Journal
import JournalFileStorage
import JournalPrimitives
import Synchronization
import TestSupport
import Testing

/// What one listener heard: each record's LSN and bytes in delivery order,
/// the deliveries that broke a rule (a record past the durable LSN at its
/// delivery), and its end: how often the end handler ran, with what, and
/// how many records had been delivered by then.
private final class Heard: @unchecked Sendable {
    private let lock = ConditionLock()
    private let changed: ConditionLock.Condition
    private var records: [(LSN, [UInt8])] = []
    private var endCalls = 0
    private var endError: JournalError?
    private var recordsAtEnd = -1
    let violations = Atomic<Int>(0)

    init() { changed = ConditionLock.Condition(lock) }

    func onRecord(_ lsn: LSN, _ bytes: UnsafeRawBufferPointer, durable: LSN) {
        if lsn > durable { violations.add(1, ordering: .relaxed) }
        lock.withLock {
            records.append((lsn, Array(bytes)))
            changed.broadcast()
        }
    }

    func onEnd(_ error: JournalError?) {
        lock.withLock {
            endCalls += 1
            endError = error
            recordsAtEnd = records.count
            changed.broadcast()
        }
    }

    /// Blocks until `count` records were heard or the listener ended.
    func waitFor(records count: Int) {
        lock.withLock {
            while records.count < count && endCalls == 0 { changed.wait() }
        }
    }

    /// Blocks until the end handler ran.
    func waitForEnd() {
        lock.withLock {
            while endCalls == 0 { changed.wait() }
        }
    }

    var lsns: [LSN] { lock.withLock { records.map(\.0) } }
    var payloads: [[UInt8]] { lock.withLock { records.map(\.1) } }
    var end: (calls: Int, error: JournalError?, recordsAtEnd: Int) { lock.withLock { (endCalls, endError, recordsAtEnd) } }
}

extension Journal {
    /// A listener from `lsn` that notes everything in `heard`.
    fileprivate func listen(from lsn: LSN, into heard: Heard) throws(JournalError) -> JournalListener {
        try listen(from: lsn, onRecord: { [unowned self] lsn, bytes in
            heard.onRecord(lsn, bytes, durable: durableLSN)
        }, onEnd: { heard.onEnd($0) })
    }
}

/// The waits below end when the listener hears what is asked or ends; a
/// listener that never delivers would leave them waiting: the time limit
/// makes that a failure.
@Suite(.timeLimit(.minutes(10))) struct ListenerTests {
    /// 64 appending tasks and 32 appending threads (inline writes), with a
    /// listener added before the first append and one added while they run:
    /// each hears every acknowledged record exactly once, in order, with the
    /// acknowledged bytes, none before it is durable, and ends once, after
    /// the last record, when the journal closes.
    @Test(arguments: TestFileSystem.allCases)
    func listenersHearEveryAcknowledgedRecord(fs: TestFileSystem) async throws {
        let dir = TemporaryDirectory(on: fs)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 256 << 10))
        let journal = try Journal.open(path: dir.path)
        let early = Heard(), late = Heard()
        _ = try journal.listen(from: 1, into: early)
        let lateAdded = LockedValue<JournalListener?>(nil)
        let threads = (0..<32).map { t in
            JoinableThread(name: "listen-append") {
                for i in 0..<20 {
                    // Halfway through, one thread adds the second listener.
                    if t == 0 && i == 10 { lateAdded.withLock { $0 = try? journal.listen(from: 1, into: late) } }
                    _ = try? journal.appendBlocking(payload(10_000 + t * 20 + i, bytes: 200))
                }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<64 {
                group.addTask { for i in 0..<20 { _ = try await journal.append(payload(t * 20 + i, bytes: 100 + i)) } }
            }
            try await group.waitForAll()
        }
        for t in threads { t.join() }
        #expect(lateAdded.withLock { $0 } != nil)
        let total = journal.durableLSN
        #expect(total == 1920)
        // Delivered as they became durable, not by the close: a delivery
        // may still run when the last append returns, so wait for it.
        for heard in [early, late] {
            heard.waitFor(records: Int(total))
            #expect(heard.end.calls == 0 && heard.lsns.count == Int(total))
        }
        journal.close()
        let written = try readAll(dir.path)
        for (k, heard) in [early, late].enumerated() {
            heard.waitForEnd()
            #expect(heard.violations.load(ordering: .relaxed) == 0, "listener \(k)")
            #expect(heard.lsns == (1...total).map { LSN($0) }, "listener \(k) hears every record once, in order")
            #expect(heard.payloads == written, "listener \(k) hears the acknowledged bytes")
            let end = heard.end
            #expect(end.calls == 1 && end.error == nil && end.recordsAtEnd == Int(total), "listener \(k) ends once, last")
        }
    }

    /// The records durable when a listener is added are delivered before
    /// `listen` returns (nothing else publishes here); later ones as they
    /// become durable.
    @Test func backlogFirstThenLiveRecords() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let journal = try Journal.open(path: dir.path)
        for i in 0..<300 { _ = try journal.appendBlocking(payload(i, bytes: 64)) }
        let heard = Heard()
        _ = try journal.listen(from: 101, into: heard)
        #expect(heard.lsns == (101...300).map { LSN($0) })
        for i in 300..<310 { _ = try journal.appendBlocking(payload(i, bytes: 64)) }
        heard.waitFor(records: 210)
        #expect(heard.lsns == (101...310).map { LSN($0) })
        #expect(heard.payloads.last == payload(309, bytes: 64))
        journal.close()
        heard.waitForEnd()
        #expect(heard.end.calls == 1 && heard.end.error == nil && heard.end.recordsAtEnd == 210)
    }

    /// A listener cancelled from inside its handler hears nothing after the
    /// record it cancelled on, and its end handler runs once, with nil.
    @Test func cancelFromTheHandlerStopsAtOnce() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let journal = try Journal.open(path: dir.path)
        let heard = Heard()
        let listener = LockedValue<JournalListener?>(nil)
        listener.withLock { slot in
            slot = try? journal.listen(from: 1, onRecord: { lsn, bytes in
                heard.onRecord(lsn, bytes, durable: journal.durableLSN)
                if lsn == 50 { listener.withLock { $0 }?.cancel() }
            }, onEnd: { heard.onEnd($0) })
        }
        #expect(listener.withLock { $0 } != nil)
        for i in 0..<100 { _ = try journal.appendBlocking(payload(i, bytes: 64)) }
        heard.waitForEnd()
        #expect(heard.lsns == (1...50).map { LSN($0) })
        #expect(heard.end.calls == 1 && heard.end.error == nil && heard.end.recordsAtEnd == 50)
        journal.close()
        #expect(heard.end.calls == 1)
    }

    /// A listener may start anywhere from the oldest LSN through the next
    /// one; outside that range it gets a typed error. One added to a closed
    /// journal hears what was durable, then ends.
    @Test func startOutsideTheLogIsRefused() throws {
        let dir = TemporaryDirectory(on: .shm)
        let journal = try openTruncatedJournal(in: dir)
        let oldest = journal.oldestLSN
        #expect(oldest > 1)
        for bad in [0, oldest - 1, journal.nextLSN + 1, LSN.max] {
            #expect(throws: JournalError.lsnOutOfRange(requested: bad, first: oldest, durable: 200)) {
                _ = try journal.listen(from: bad, onRecord: { _, _ in })
            }
        }
        journal.close()
        let heard = Heard()
        _ = try journal.listen(from: 190, into: heard)
        heard.waitForEnd()
        #expect(heard.lsns == (190...200).map { LSN($0) })
        #expect(heard.end.calls == 1 && heard.end.error == nil)
    }

    /// A listener of a journal open for following (as another process
    /// opens it) hears the writer's records on the tail thread, through a
    /// rollover, each once, in order, none past the writer's durable LSN,
    /// and ends with the writer's clean close when asked to.
    @Test(arguments: TestFileSystem.allCases)
    func listenerOfAFollowedJournal(fs: TestFileSystem) throws {
        let dir = TemporaryDirectory(on: fs)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let writer = try Journal.open(path: dir.path)
        for i in 0..<50 { _ = try writer.appendBlocking(payload(i, bytes: 700)) }
        let reader = try Journal.openForFollowing(path: dir.path, untilWriterCloses: true)
        defer { reader.close() }
        let heard = Heard()
        _ = try reader.listen(from: 1, onRecord: { lsn, bytes in
            heard.onRecord(lsn, bytes, durable: durableForFollowers(writer))
        }, onEnd: { heard.onEnd($0) })
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<150 { _ = try? writer.appendBlocking(payload(50 + t * 150 + i, bytes: 700)) }
        }
        #expect(writer.segmentSummaries.count > 1, "the writer rolled over")
        writer.close()
        heard.waitForEnd()
        #expect(heard.violations.load(ordering: .relaxed) == 0)
        #expect(heard.lsns == (1...650).map { LSN($0) })
        #expect(heard.payloads == (try readAll(dir.path)))
        #expect(heard.end.calls == 1 && heard.end.error == nil && heard.end.recordsAtEnd == 650)
    }
}

/// Every record's bytes, read back from a closed journal.
private func readAll(_ path: String) throws -> [[UInt8]] {
    let journal = try Journal.openForReading(path: path)
    defer { journal.close() }
    var all: [[UInt8]] = []
    try journal.forEachRecord(from: journal.oldestLSN, through: journal.durableLSN) { _, bytes in
        all.append(Array(bytes))
        return true
    }
    return all
}
