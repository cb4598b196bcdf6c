#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with one condition variable, for the few places where the
/// CLI makes a thread sleep until another one has news.
final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        let rcMutex = pthread_mutex_init(mutex, nil)
        let rcCondition = pthread_cond_init(condition, nil)
        precondition(rcMutex == 0 && rcCondition == 0, "pthread_mutex_init / pthread_cond_init")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Sleeps until `ready` holds (checked with the lock held), then runs
    /// `body` with the lock still held.
    func wait<R>(until ready: () -> Bool, then body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready() { pthread_cond_wait(condition, mutex) }
        return body()
    }

    /// Changes the state under the lock and wakes every waiter.
    func update<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer {
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
        return body()
    }
}

