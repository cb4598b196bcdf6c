import JournalPrimitives

// The follower hub: followers that have read every durable record park
// here until the durable LSN passes what they have read. The writer calls
// `published(_:)` after it publishes a new durable LSN, once it has let the
// journal's lock go, so a follower wakes on durability itself: no polling,
// no timer, and no wake-up under the journal's lock.
//
// The follow file's durable LSN is stored earlier, under the journal's lock
// and before the journal's own durable LSN (`storeDurableLocked`): an
// appender is acknowledged only once the journal's durable LSN reaches its
// record (woken, or finding it there), so every acknowledged record is in
// the follow file even if the writer dies at the next instruction
// (Tools/promela/followhub.pml). Only the wake-up (the sequence and the
// futex) waits for `published(_:)`.
//
// Lost wake-ups (Tools/promela/followhub.pml): a follower registers and
// re-reads the durable LSN under the hub's lock; the writer stores the
// durable LSN before it takes that lock. Either the follower's critical
// section comes first (the writer then finds it registered) or the
// writer's does (the follower then reads the new durable LSN).
// Publications may reach the hub out of order (two completing threads):
// the hub keeps the highest, and `close` takes the final durable LSN before
// it marks the close, so a publication still on its way changes nothing
// after it.

/// Why a follower's wait ended.
enum FollowWaitOutcome: Sendable, Equatable {
    /// The durable LSN passed the follower's position.
    case advanced
    /// The journal closed and nothing more will become durable.
    case closed
    /// The follower was cancelled.
    case cancelled
    /// Following stopped on an error (a journal followed from another
    /// process whose log could not be read on).
    case failed(JournalError)
}

/// One follower's registration: its identity, how it sleeps, and whether it
/// was cancelled. Fields other than `id` and `parker` are guarded by the
/// hub's lock.
final class FollowToken: @unchecked Sendable {
    let id: UInt64
    /// A thread follower's parking spot (tasks use a continuation instead).
    let parker = Parker()
    var cancelled = false

    init(id: UInt64) { self.id = id }
}

/// Followers parked until the durable LSN advances, the journal closes, or
/// they are cancelled. Its lock is taken after the journal's (never the
/// other way round), so the writer may call in with the journal's lock held.
final class FollowerHub: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`.
    private enum Sleeper {
        case task(CheckedContinuation<FollowWaitOutcome, Never>)
        case thread(Parker)
    }

    private let lock = ConditionLock()
    /// Parked followers by token id, with the position each waits past.
    private var parked: [UInt64: (after: LSN, sleeper: Sleeper)] = [:]
    /// Listeners, called by each publication (`JournalListener`).
    private var listeners: [ObjectIdentifier: JournalListener] = [:]
    private var nextID: UInt64 = 0
    private var closed = false
    private var failure: JournalError?
    /// The highest durable LSN published to the hub.
    private var publishedLSN: LSN = 0
    /// The follow file a writer publishes to, if it has one. Set under both
    /// the hub's lock and the journal's, so either lock is enough to read it.
    private var shared: SharedFollowState?
    #if DEBUG
    /// Test seam: runs first in `published(_:)`, where a writer that stops
    /// or dies has stored the durable LSN but woken nobody. Set before the
    /// journal's first append.
    var publishingHook: (@Sendable (LSN) -> Void)?
    #endif

    /// From now on, publications go to `shared` too (a writer's follow
    /// file). Called with the journal's lock held.
    func attach(_ shared: SharedFollowState) {
        lock.withLock { self.shared = shared }
    }

    /// Stores `lsn` as the follow file's durable LSN, before the journal
    /// stores it as its own: nothing can acknowledge an append it covers
    /// before followers in other processes can see it. An atomic store, no
    /// wake-up (`published(_:)` wakes). The journal's lock is held (it
    /// guards `shared` too, and orders the stores: they only go up).
    func storeDurableLocked(_ lsn: LSN) {
        shared?.storeDurable(lsn)
    }

    /// A fresh registration for one follower.
    func makeToken() -> FollowToken {
        lock.withLock {
            nextID += 1
            return FollowToken(id: nextID)
        }
    }

    /// The durable LSN is now `lsn` (or higher): wakes the followers
    /// waiting for a record at or below it. Called after the writer stored
    /// the durable LSN, without the journal's lock: one uncontended lock
    /// when nobody follows; one wake-up per parked follower otherwise. A
    /// publication overtaken by a higher one does nothing.
    func published(_ lsn: LSN) {
        #if DEBUG
        publishingHook?(lsn)
        #endif
        lock.lock()
        guard lsn > publishedLSN else {
            // Parked followers wait past the durable LSN they read, which is
            // at least the highest published: none waits below `lsn`. The
            // higher publication's wake-up follows this one's store.
            lock.unlock()
            return
        }
        publishedLSN = lsn
        shared?.wake()
        guard !parked.isEmpty || !listeners.isEmpty else {
            lock.unlock()
            return
        }
        var ready: [Sleeper] = []
        for (id, entry) in parked where entry.after < lsn {
            ready.append(entry.sleeper)
            parked[id] = nil
        }
        let called = listeners.isEmpty ? [] : Array(listeners.values)
        lock.unlock()
        for sleeper in ready { Self.wake(sleeper, .advanced) }
        // Listeners in this thread, after the wake-ups: a woken follower
        // needs a CPU, a listener only this thread's time.
        for listener in called { listener.published(lsn) }
    }

    /// Adds `listener`, which then gets every publication. The caller then
    /// delivers the records durable by now: a publication after the add
    /// reaches the listener, and one before it stored the durable LSN
    /// before the add took the hub's lock (Tools/promela/listener.pml).
    /// A listener added after the close or a failure ends at once, after
    /// the records published by then.
    func addListener(_ listener: JournalListener) {
        lock.lock()
        let end: (ListenerEnd, LSN)? = failure.map { (.failed($0), publishedLSN) } ?? (closed ? (.closed, publishedLSN) : nil)
        if end == nil { listeners[ObjectIdentifier(listener)] = listener }
        lock.unlock()
        if let end { listener.requestEnd(end.0, through: end.1) }
    }

    /// `listener` gets no more publications (cancelled or ended).
    func removeListener(_ listener: JournalListener) {
        lock.withLock { listeners[ObjectIdentifier(listener)] = nil }
    }

    /// The oldest LSN rose to `lsn` (truncation, before it releases
    /// segments): followers in other processes must not read below it.
    func publishOldest(_ lsn: LSN) {
        let shared = lock.withLock { self.shared }
        shared?.publishOldest(lsn)
    }

    /// The retention floor is `lsn` (journal-format.md, section 12): for
    /// creators of named positions in other processes.
    func publishRetentionFloor(_ lsn: LSN) {
        let shared = lock.withLock { self.shared }
        shared?.publishRetentionFloor(lsn)
    }

    /// Following failed: every wait, now and later, ends with `error`.
    func fail(_ error: JournalError) {
        lock.lock()
        failure = failure ?? error
        let all = parked.values.map(\.sleeper)
        parked.removeAll()
        let ended = takeListenersLocked()
        let through = publishedLSN
        lock.unlock()
        for sleeper in all { Self.wake(sleeper, .failed(error)) }
        for listener in ended { listener.requestEnd(.failed(error), through: through) }
    }

    /// The journal closed with `durable` as its durable LSN: every parked
    /// follower wakes, and later waits return `.closed` once the durable
    /// LSN is passed. A writer's follow file holds `durable` already
    /// (`storeDurableLocked`) and gets the close mark, with a wake-up.
    func close(durable: LSN) {
        lock.lock()
        closed = true
        publishedLSN = max(publishedLSN, durable)
        shared?.detachWriter()
        let all = parked.values.map(\.sleeper)
        parked.removeAll()
        let ended = takeListenersLocked()
        let through = publishedLSN
        lock.unlock()
        for sleeper in all { Self.wake(sleeper, .closed) }
        for listener in ended { listener.requestEnd(.closed, through: through) }
    }

    /// Cancels `token`'s follower: a parked wait ends with `.cancelled`, and
    /// so does every later one. Any thread or task.
    func cancel(_ token: FollowToken) {
        lock.lock()
        token.cancelled = true
        let entry = parked.removeValue(forKey: token.id)
        lock.unlock()
        // A follower not parked finds `cancelled` before it parks again.
        if let entry { Self.wake(entry.sleeper, .cancelled) }
    }

    /// Every listener, removed. Lock held.
    private func takeListenersLocked() -> [JournalListener] {
        let all = Array(listeners.values)
        listeners.removeAll()
        return all
    }

    /// Whether `token` was cancelled (checked between batches, so that a
    /// follower that never runs out of records still stops).
    func isCancelled(_ token: FollowToken) -> Bool {
        lock.withLock { token.cancelled }
    }

    /// Blocks the calling thread until `durable()` passes `lsn`, the journal
    /// closes or the token is cancelled.
    func waitBlocking(_ token: FollowToken, after lsn: LSN, durable: () -> LSN) -> FollowWaitOutcome {
        lock.lock()
        while true {
            if let outcome = settledLocked(token, after: lsn, durable: durable) {
                parked[token.id] = nil
                lock.unlock()
                return outcome
            }
            parked[token.id] = (lsn, .thread(token.parker))
            lock.unlock()
            // Woken by `published`, `close` or `cancel`; a stale unpark
            // only costs one more turn of the loop.
            token.parker.park()
            lock.lock()
        }
    }

    /// Suspends the calling task until `durable()` passes `lsn`, the journal
    /// closes, or the token or the task is cancelled.
    func wait(_ token: FollowToken, after lsn: LSN, durable: @Sendable () -> LSN) async -> FollowWaitOutcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<FollowWaitOutcome, Never>) in
                lock.lock()
                if let outcome = settledLocked(token, after: lsn, durable: durable) {
                    lock.unlock()
                    continuation.resume(returning: outcome)
                    return
                }
                parked[token.id] = (lsn, .task(continuation))
                lock.unlock()
            }
        } onCancel: {
            cancel(token)
        }
    }

    /// The outcome of a wait that need not sleep, if any. Records come
    /// before the close: a follower reads everything durable, then ends.
    /// Lock held.
    private func settledLocked(_ token: FollowToken, after lsn: LSN, durable: () -> LSN) -> FollowWaitOutcome? {
        if token.cancelled { return .cancelled }
        if durable() > lsn { return .advanced }
        if let failure { return .failed(failure) }
        if closed { return .closed }
        return nil
    }

    private static func wake(_ sleeper: Sleeper, _ outcome: FollowWaitOutcome) {
        switch sleeper {
        case .task(let c): c.resume(returning: outcome)
        case .thread(let p): p.unpark()
        }
    }
}
