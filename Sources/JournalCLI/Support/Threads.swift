import JournalPrimitives

/// A lock with one condition variable, for the few places where the CLI
/// makes a thread sleep until another one has news.
final class Monitor: Sendable {
    private let lock = ConditionLock()
    private let changed: ConditionLock.Condition

    init() { changed = ConditionLock.Condition(lock) }

    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try lock.withLock(body)
    }

    /// Sleeps until `ready` holds (checked with the lock held), then runs
    /// `body` with the lock still held.
    func wait<R>(until ready: () -> Bool, then body: () -> R) -> R {
        lock.withLock {
            while !ready() { changed.wait() }
            return body()
        }
    }

    /// Changes the state under the lock and wakes every waiter.
    func update<R>(_ body: () -> R) -> R {
        lock.withLock {
            defer { changed.broadcast() }
            return body()
        }
    }
}
