#if canImport(Glibc)
import Glibc
#endif

/// A thread that sleeps until `request()` and then runs `work` once (several
/// requests while it works fold into one more run).
final class MaintenanceThread: @unchecked Sendable {
    // @unchecked: `requested` and `stopping` are guarded by `mutex`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private var requested = false
    private var stopping = false
    private var handle = pthread_t()
    private var joined = false
    private let work: @Sendable () -> Void

    init(work: @escaping @Sendable () -> Void) {
        self.work = work
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        cond = .allocate(capacity: 1)
        cond.initialize(to: pthread_cond_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init")
        precondition(pthread_cond_init(cond, nil) == 0, "pthread_cond_init")
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&handle, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<MaintenanceThread>.fromOpaque(raw).takeRetainedValue().loop()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create: \(rc)")
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    private func loop() {
        while true {
            pthread_mutex_lock(mutex)
            while !requested && !stopping { pthread_cond_wait(cond, mutex) }
            let stop = stopping
            requested = false
            pthread_mutex_unlock(mutex)
            if stop { return }
            work()
        }
    }

    /// Asks for one more run of `work`.
    func request() {
        pthread_mutex_lock(mutex)
        let wake = !requested
        requested = true
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(cond) }
    }

    /// Stops the thread after the run in progress, if any, and joins it.
    /// Must not be called from `work`.
    func stop() {
        guard !joined else { return }
        joined = true
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_mutex_unlock(mutex)
        pthread_cond_signal(cond)
        pthread_join(handle, nil)
    }
}
