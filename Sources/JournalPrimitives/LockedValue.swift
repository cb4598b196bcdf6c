/// A value guarded by a pthread mutex, with the API of
/// `Synchronization.Mutex` (`withLock` hands the body the value `inout`).
///
/// Used instead of `Mutex` for state that threads share: ThreadSanitizer
/// intercepts pthread mutexes but does not see the standard library's
/// `Mutex` on Linux, and reports every access under one as a race, which
/// would hide a real one. `Atomic` stays where the state is atomics.
public final class LockedValue<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched with `lock` held.
    @usableFromInline let lock = ConditionLock()
    @usableFromInline var value: Value

    public init(_ value: sending Value) { self.value = value }

    /// Runs `body` with the lock held and the value to read or change.
    @inlinable @inline(__always)
    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// Runs `body` as `withLock` does if no thread holds the lock, and
    /// returns its result; returns nil at once otherwise.
    @inlinable
    public func withLockIfAvailable<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R? {
        guard lock.tryLock() else { return nil }
        defer { lock.unlock() }
        return try body(&value)
    }
}
