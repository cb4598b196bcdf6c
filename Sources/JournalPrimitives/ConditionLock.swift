#if canImport(Glibc)
public import Glibc
#endif

/// A pthread mutex with condition variables: the journal's one lock.
///
/// `Synchronization.Mutex` has no condition variables, and the writer needs
/// threads to sleep until space frees up or a batch becomes durable. A
/// pthread mutex is also one that ThreadSanitizer sees (it does not see the
/// standard library's `Mutex` on Linux). Lock and unlock inline into the
/// caller: they are on the append path.
public final class ConditionLock: @unchecked Sendable {
    // @unchecked: the mutex is the synchronization itself.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = makePthreadObject(pthread_mutex_t(), "pthread_mutex_init") { pthread_mutex_init($0, nil) }
    }

    deinit { destroyPthreadObject(mutex) { pthread_mutex_destroy($0) } }

    @inlinable @inline(__always) public func lock() { pthread_mutex_lock(mutex) }
    @inlinable @inline(__always) public func unlock() { pthread_mutex_unlock(mutex) }
    /// Takes the lock if no thread holds it; true when taken.
    @inlinable public func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

    @inlinable @inline(__always)
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Runs `body` with the lock held if no thread holds it, and returns its
    /// result; returns nil at once otherwise.
    @inlinable
    public func withLockIfAvailable<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R? {
        guard tryLock() else { return nil }
        defer { unlock() }
        return try body()
    }

    /// A condition variable used with this lock.
    public final class Condition: @unchecked Sendable {
        // @unchecked: used only with the owner's mutex held.
        private let cond: UnsafeMutablePointer<pthread_cond_t>
        private unowned let owner: ConditionLock

        public init(_ owner: ConditionLock) {
            self.owner = owner
            cond = makePthreadObject(pthread_cond_t(), "pthread_cond_init") { pthread_cond_init($0, nil) }
        }

        deinit { destroyPthreadObject(cond) { pthread_cond_destroy($0) } }

        /// Waits with the lock held; the lock is held again on return.
        /// Spurious wake-ups happen: callers re-check their predicate.
        public func wait() { pthread_cond_wait(cond, owner.mutex) }
        public func signal() { pthread_cond_signal(cond) }
        public func broadcast() { pthread_cond_broadcast(cond) }
    }
}

/// Allocates a pthread object (a mutex, a condition) at a stable address and
/// initializes it with `initialize`, which must succeed: pthread objects
/// must not move once initialized, so they live outside Swift values.
private func makePthreadObject<T>(
    _ zero: T, _ name: String, _ initialize: (UnsafeMutablePointer<T>) -> Int32
) -> UnsafeMutablePointer<T> {
    let object = UnsafeMutablePointer<T>.allocate(capacity: 1)
    object.initialize(to: zero)
    let rc = initialize(object)
    precondition(rc == 0, name)
    return object
}

/// Destroys and frees an object `makePthreadObject` made.
private func destroyPthreadObject<T>(_ object: UnsafeMutablePointer<T>, _ destroy: (UnsafeMutablePointer<T>) -> Int32) {
    _ = destroy(object)
    object.deallocate()
}
