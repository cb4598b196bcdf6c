@_spi(Testing) import Journal
import JournalFileStorage
import JournalPrimitives
import JournalStorage
import JournalTesting
import Synchronization
import TestSupport
import Testing

/// How one call made from inside a listener's handler came out.
private enum Outcome: Equatable, Sendable {
    case succeeded
    /// Refused with `invalidArgument`, as a call that would wait for the
    /// handler's own thread must be.
    case refused
    /// Failed with `closed`: the journal was closing.
    case closed
    case failed(String)
}

/// The outcomes of the calls a handler made, by name, and the LSNs its
/// listener heard, with waits for both (a delivery or an end handler may run
/// on another thread after the call that published it returned).
private final class Attempts: @unchecked Sendable {
    private let lock = ConditionLock()
    private let changed: ConditionLock.Condition
    private var outcomes: [String: Outcome] = [:]
    private var lsns: [LSN] = []

    init() { changed = ConditionLock.Condition(lock) }

    func attempt(_ name: String, _ call: () throws -> Void) {
        let outcome: Outcome
        do {
            try call()
            outcome = .succeeded
        } catch JournalError.invalidArgument {
            outcome = .refused
        } catch JournalError.closed {
            outcome = .closed
        } catch {
            outcome = .failed("\(error)")
        }
        lock.withLock {
            outcomes[name] = outcome
            changed.broadcast()
        }
    }

    func heard(_ lsn: LSN) {
        lock.withLock {
            lsns.append(lsn)
            changed.broadcast()
        }
    }

    /// Blocks until the call `name` was attempted; returns its outcome.
    func outcome(of name: String) -> Outcome {
        lock.withLock {
            while outcomes[name] == nil { changed.wait() }
            return outcomes[name] ?? .failed("never attempted")
        }
    }

    /// Blocks until `count` records were heard; returns their LSNs.
    func lsns(count: Int) -> [LSN] {
        lock.withLock {
            while lsns.count < count { changed.wait() }
            return lsns
        }
    }

    var attempted: Int { lock.withLock { outcomes.count } }
}

/// A fresh journal in the manual runtime on a simulated disk, with the
/// options to open it again.
private func manualJournal(seed: UInt64) throws -> (storage: any StorageDirectory, options: JournalOptions, journal: Journal) {
    let storage = SimulatedDisk(seed: seed).storage()
    try Journal.create(storage: storage, configuration: smallConfiguration())
    var options = JournalOptions()
    options.runtime = .manual
    return (storage, options, try Journal.open(storage: storage, options: options))
}

/// Listens to `journal` from record 1: each record heard goes into
/// `attempts`; at record `lsn` the handler closes `journal` (the attempt
/// "close"), then runs `then`; the end handler's outcome is `ended`'s
/// "end".
private func listenClosing(
    _ journal: Journal, at lsn: LSN, _ attempts: Attempts, _ ended: Attempts,
    then: @escaping @Sendable () -> Void = {}
) throws {
    _ = try journal.listen(from: 1, onRecord: { heard, _ in
        attempts.heard(heard)
        guard heard == lsn else { return }
        attempts.attempt("close") { journal.close() }
        then()
    }, onEnd: { error in
        ended.attempt("end") { if let error { throw error } }
    })
}

/// Calls that wait for a journal, made from inside a handler of its
/// listener, would wait for the thread the handler runs on: they throw
/// instead, and everything else a handler may do still works. The suite's
/// time limit turns a call that waits after all into a failure.
@Suite(.timeLimit(.minutes(10))) struct ListenerReentryTests {
    /// A writer's listener: blocking appends, a wait for durability, a
    /// truncation, a catch-up and a follower's blocking wait are refused;
    /// a read, an enqueue and an append to another journal succeed; the
    /// record the handler enqueued is delivered too, and every call in the
    /// end handler that would wait is refused as well.
    @Test func callsThatWouldWaitAreRefusedInsideTheHandler() throws {
        let dir = TemporaryDirectory(on: .shm), otherDir = TemporaryDirectory(on: .shm)
        for d in [dir, otherDir] { try Journal.create(path: d.path, configuration: smallConfiguration()) }
        let journal = try Journal.open(path: dir.path)
        let other = try Journal.open(path: otherDir.path)
        defer { other.close() }
        let attempts = Attempts()
        _ = try journal.listen(from: 1, onRecord: { lsn, _ in
            attempts.heard(lsn)
            guard lsn == 5 else { return }
            // Nothing else is pending: the durable LSN is 5 and stays there
            // while the handler runs (record 5's appender waits for it).
            attempts.attempt("appendBlocking") { _ = try journal.appendBlocking(payload(900, bytes: 10)) }
            attempts.attempt("appendBlocking(contentsOf:)") { _ = try journal.appendBlocking(contentsOf: [payload(901, bytes: 10)]) }
            attempts.attempt("waitUntilDurableBlocking") { try journal.waitUntilDurableBlocking(lsn) }
            attempts.attempt("truncate") { _ = try journal.truncate(before: 2) }
            attempts.attempt("catchUpWithWriter") { _ = try journal.catchUpWithWriter() }
            attempts.attempt("follower") {
                let follower = try journal.follower(from: journal.durableLSN + 1)
                defer { follower.cancel() }
                _ = try follower.nextBlocking()
            }
            attempts.attempt("read") { _ = try journal.record(at: 1) }
            attempts.attempt("other journal") { _ = try other.appendBlocking(payload(902, bytes: 10)) }
            attempts.attempt("enqueue") { _ = try journal.enqueue(payload(903, bytes: 10)) }
        })
        let ended = Attempts()
        let cancelled = try journal.listen(from: 1, onRecord: { _, _ in }, onEnd: { _ in
            ended.attempt("appendBlocking") { _ = try journal.appendBlocking(payload(904, bytes: 10)) }
        })
        for i in 0..<10 { _ = try journal.appendBlocking(payload(i, bytes: 64)) }
        cancelled.cancel()

        for name in ["appendBlocking", "appendBlocking(contentsOf:)", "waitUntilDurableBlocking", "truncate",
                     "catchUpWithWriter", "follower"] {
            #expect(attempts.outcome(of: name) == .refused, "\(name) inside the handler")
        }
        for name in ["read", "other journal", "enqueue"] {
            #expect(attempts.outcome(of: name) == .succeeded, "\(name) inside the handler")
        }
        #expect(attempts.attempted == 9)
        #expect(ended.outcome(of: "appendBlocking") == .refused, "appendBlocking inside the end handler")
        // The 10 appends and the handler's enqueue, nothing refused; each
        // delivered once, in order.
        #expect(journal.durableLSN == 11)
        #expect(attempts.lsns(count: 11) == (1...11).map { LSN($0) })
        #expect(try journal.record(at: 6) == payload(903, bytes: 10))
        journal.close()
        #expect(other.durableLSN == 1)
    }

    /// The listener of a journal open for following runs on its tail thread
    /// while it holds the lock `catchUpWithWriter` takes: called from the
    /// handler, it is refused (it would have waited for that thread
    /// forever). The tail reads on afterwards, and the call works from
    /// outside the handler.
    @Test func catchUpInsideAFollowedJournalsHandlerIsRefused() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let writer = try Journal.open(path: dir.path)
        for i in 0..<10 { _ = try writer.appendBlocking(payload(i, bytes: 64)) }
        let reader = try Journal.openForFollowing(path: dir.path, untilWriterCloses: true)
        defer { reader.close() }
        let attempts = Attempts()
        _ = try reader.listen(from: 1, onRecord: { lsn, _ in
            attempts.heard(lsn)
            if lsn == 12 { attempts.attempt("catchUpWithWriter") { _ = try reader.catchUpWithWriter() } }
        })
        for i in 10..<20 { _ = try writer.appendBlocking(payload(i, bytes: 64)) }
        #expect(try reader.catchUpWithWriter() == 20)
        writer.close()
        #expect(attempts.outcome(of: "catchUpWithWriter") == .refused)
        #expect(attempts.lsns(count: 20) == (1...20).map { LSN($0) })
    }

    /// `enqueue` waits only when every batch buffer is busy, and that wait
    /// is refused inside a handler too. With the manual runtime nothing is
    /// written while the handler runs, so its enqueues fill the buffers.
    /// What it enqueued before the refusal is written and delivered later.
    @Test func enqueueThatMustWaitForSpaceIsRefusedInsideTheHandler() throws {
        let journal = try manualJournal(seed: 0x4C49_5354).journal
        defer { journal.close() }
        let attempts = Attempts()
        let enqueued = LockedValue<Int>(0)
        let limit = 100_000
        _ = try journal.listen(from: 1, onRecord: { lsn, _ in
            attempts.heard(lsn)
            guard lsn == 1 else { return }
            attempts.attempt("enqueue until the buffers are full") {
                for i in 0..<limit {
                    _ = try journal.enqueue(payload(i, bytes: 4_000))
                    enqueued.withLock { $0 += 1 }
                }
            }
        })
        _ = try journal.enqueue(payload(0, bytes: 10))
        while journal.durableLSN < 1 { try journal.pump() }
        #expect(attempts.outcome(of: "enqueue until the buffers are full") == .refused)
        let count = enqueued.withLock { $0 }
        #expect(count > 0 && count < limit)
        let last = LSN(1 + count)
        while journal.durableLSN < last { try journal.pump() }
        #expect(journal.nextLSN == last + 1, "the refused enqueue took no LSN")
        #expect(attempts.lsns(count: Int(last)) == (1...last).map { LSN($0) })
    }

    /// `close()` from inside a handler, which runs on the I/O thread (no
    /// inline writes) or on the appender writing inline: the call returns
    /// at once with the journal closing (the handler's next enqueue and
    /// the next append fail with `closed`) but still locked against another
    /// open, and a thread of its own finishes the close after the handler:
    /// the end handler runs, a close from outside waits for the finish, and
    /// the journal then opens again (its lock released) with every record
    /// acknowledged. Closed on the handler's thread, the journal let its
    /// lock go while its threads still ran: the open inside succeeded.
    @Test(arguments: [false, true]) func closeInsideTheHandlerFinishesAfterIt(inlineWrites: Bool) throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        var options = JournalOptions()
        options.inlineWrites = inlineWrites
        let journal = try Journal.open(path: dir.path, options: options)
        let attempts = Attempts(), ended = Attempts()
        let path = dir.path
        try listenClosing(journal, at: 3, attempts, ended) {
            attempts.attempt("enqueue after close") { _ = try journal.enqueue(payload(900, bytes: 10)) }
            // Its threads still run (this one included): it keeps its lock.
            attempts.attempt("open while closing") { try Journal.open(path: path).close() }
        }
        var acknowledged: [LSN] = []
        let failure = Attempts()
        failure.attempt("append") {
            for i in 0..<1_000 { acknowledged.append(try journal.appendBlocking(payload(i, bytes: 64))) }
        }
        #expect(attempts.outcome(of: "close") == .succeeded)
        #expect(attempts.outcome(of: "enqueue after close") == .closed)
        #expect(attempts.outcome(of: "open while closing") != .succeeded)
        #expect(failure.outcome(of: "append") == .closed)
        // Inline, the handler ran inside the third append. Through the I/O
        // thread, the appender may see record 3 durable and append again
        // before the handler closes: that record is written by the close.
        #expect(acknowledged == (1...LSN(acknowledged.count)).map { $0 })
        #expect(inlineWrites ? acknowledged.count == 3 : acknowledged.count >= 3)
        #expect(ended.outcome(of: "end") == .succeeded)
        journal.close()
        let reopened = try Journal.open(path: dir.path)
        defer { reopened.close() }
        #expect(reopened.durableLSN >= LSN(acknowledged.count))
        for lsn in acknowledged { #expect(try reopened.record(at: lsn) == payload(Int(lsn) - 1, bytes: 64)) }
        #expect(attempts.lsns(count: 3).prefix(3) == [1, 2, 3])
    }

    /// A journal open for following closed from its listener's handler on
    /// the tail thread: the tail stops after the handler, the end handler
    /// runs, a close from outside waits for the finish, and the writer goes
    /// on untouched.
    @Test func closeInsideAFollowedJournalsHandlerFinishesAfterIt() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let writer = try Journal.open(path: dir.path)
        defer { writer.close() }
        for i in 0..<10 { _ = try writer.appendBlocking(payload(i, bytes: 64)) }
        let reader = try Journal.openForFollowing(path: dir.path, untilWriterCloses: true)
        let attempts = Attempts(), ended = Attempts()
        try listenClosing(reader, at: 12, attempts, ended)
        for i in 10..<20 { _ = try writer.appendBlocking(payload(i, bytes: 64)) }
        #expect(attempts.outcome(of: "close") == .succeeded)
        #expect(ended.outcome(of: "end") == .succeeded)
        reader.close()
        let heard = attempts.lsns(count: 12)
        #expect(heard == (1...LSN(heard.count)).map { $0 }, "each record once, in order, from the first")
        #expect(try writer.appendBlocking(payload(20, bytes: 64)) == 21)
    }

    /// With the manual runtime the handler runs inside `pump()`, which
    /// finishes the close the handler began before it returns.
    @Test func closeInsideTheHandlerFinishesWithinThePump() throws {
        let (storage, options, journal) = try manualJournal(seed: 0x434C_4F53)
        let attempts = Attempts(), ended = Attempts()
        try listenClosing(journal, at: 2, attempts, ended)
        for i in 0..<2 { _ = try journal.enqueue(payload(i, bytes: 10)) }
        while journal.durableLSN < 2 { try journal.pump() }
        #expect(attempts.outcome(of: "close") == .succeeded)
        #expect(ended.attempted == 1, "the pump finished the close: the end handler ran")
        #expect(ended.outcome(of: "end") == .succeeded)
        #expect(throws: JournalError.closed) { _ = try journal.enqueue(payload(2, bytes: 10)) }
        let reopened = try Journal.open(storage: storage, options: options)
        defer { reopened.close() }
        #expect(reopened.nextLSN == 3)
    }
}
