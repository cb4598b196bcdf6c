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
        let storage = SimulatedDisk(seed: 0x4C49_5354).storage()
        try Journal.create(storage: storage, configuration: smallConfiguration())
        var options = JournalOptions()
        options.runtime = .manual
        let journal = try Journal.open(storage: storage, options: options)
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
}
