internal import CJournalShims
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with condition variables: the journal's one lock.
///
/// `Synchronization.Mutex` has no condition variables, and the writer needs
/// threads to sleep until space frees up or a batch becomes durable.
final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    @inline(__always)
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// A condition variable used with this lock.
    final class Condition: @unchecked Sendable {
        private let cond: UnsafeMutablePointer<pthread_cond_t>
        private unowned let owner: ConditionLock

        init(_ owner: ConditionLock) {
            self.owner = owner
            cond = .allocate(capacity: 1)
            cond.initialize(to: pthread_cond_t())
            let rc = pthread_cond_init(cond, nil)
            precondition(rc == 0, "pthread_cond_init")
        }

        deinit {
            pthread_cond_destroy(cond)
            cond.deallocate()
        }

        /// Waits with the lock held; the lock is held again on return.
        /// Spurious wake-ups happen: callers re-check their predicate.
        func wait() { pthread_cond_wait(cond, owner.mutex) }
        func signal() { pthread_cond_signal(cond) }
        func broadcast() { pthread_cond_broadcast(cond) }
    }
}

/// A joinable thread running `body`.
final class JoinableThread: @unchecked Sendable {
    private var handle = pthread_t()
    private var joined = false

    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(name: name, body: body))
        let rc = pthread_create(&handle, nil, { raw in
            guard let raw else { return nil }
            let box = Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue()
            box.name.withCString { cjournal_set_thread_name($0) }
            box.body()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }
}

private final class ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = String(name.prefix(15))
        self.body = body
    }
}

/// Monotonic time in nanoseconds.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
