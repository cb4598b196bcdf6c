import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// # Automatic maintenance: applies and checkpoints without a caller
//
// Two bounds keep a long-running writer from growing memory or disk:
//
//   table    page versions in the translation table; past
//            `applyThresholdVersions`, journaled pages are applied to the
//            data file and dropped from the table (A1-A3);
//   journal  bytes of transaction records committed since the last
//            checkpoint began; past `checkpointThresholdJournalBytes`, a
//            checkpoint writes a snapshot and truncates the journal.
//
// Who does the work:
//
//   .threads runtime  a maintenance thread, woken by the commit that
//                     crosses a threshold (one wake-up per crossing, not one
//                     per commit), applies and checkpoints off the
//                     committers' path. If committers outrun it by
//                     `maintenanceBackpressureFactor` times a threshold, the
//                     committer that notices does the work itself (waiting
//                     for a running checkpoint first): the hard bound.
//   .manual runtime   no thread (the simulation stays deterministic): the
//                     committing thread does the work when it crosses a
//                     threshold, after its commit is queued.
//
// A failure of automatic work never fails the commit that triggered it (the
// commit is queued and has its LSN by then): it is logged and kept in
// `lastMaintenanceError`; the next crossing tries again.
//
// Readers holding old snapshots hold the apply horizon back; the table and
// the journal then grow until they end (a checkpoint can only save what was
// applied).

/// What maintenance a commit asks for, decided under the table lock.
struct MaintenanceNeed: Equatable {
    var apply = false
    var checkpoint = false
    /// Past the hard bound: the committer works inline.
    var urgent = false

    var any: Bool { apply || checkpoint }
}

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
