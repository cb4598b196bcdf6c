import CRaft
import JournalPrimitives

// Work that must not hold up the raft loop, run where `offLoopRunner` puts
// it (another thread; or, without one, a deferred callback on the loop, for
// deterministic simulation), with a completion that fires on the loop from
// `runCompletions()`, like every other completion:
// - raft's async work (`raft_io.async_work`, I/O version 2). Canonical raft
//   0.15 uses it for one thing: a state machine of version 3 takes its
//   snapshot in two steps, `snapshot` on the raft thread and
//   `snapshot_async` as async work, so that the expensive part (for the
//   replicated key-value store: a checkpoint and a read of its pages) runs
//   elsewhere;
// - writing a snapshot's file (`snapshot_put`) and reading it back
//   (`snapshot_get`): as big as the state machine.
// Raft goes on applying entries, sending and receiving meanwhile.

/// A job run once off the loop, whose completion fires on the loop once it
/// has run.
final class OffLoopJob: @unchecked Sendable {
    // @unchecked: `status` is guarded by `lock`; `body` runs once, off the
    // loop, and `complete` once, on it.
    private let body: () -> Int32
    let complete: (Int32) -> Void
    private let lock = ConditionLock()
    private let finished: ConditionLock.Condition
    private var status: Int32?

    init(body: @escaping () -> Int32, complete: @escaping (Int32) -> Void) {
        self.body = body
        self.complete = complete
        finished = ConditionLock.Condition(lock)
    }

    /// Runs the job, on the calling thread.
    func run() {
        let rv = body()
        lock.withLock {
            status = rv
            finished.broadcast()
        }
    }

    /// The job's result once it has run; nil before.
    var result: Int32? { lock.withLock { status } }

    /// Blocks until the job has run.
    func waitUntilRun() {
        lock.withLock {
            while status == nil { finished.wait() }
        }
    }
}

extension JournalRaftIO {
    /// Runs `body` off the loop, then `complete` on the loop with its result
    /// (`RAFT_CANCELED` when raft closes first).
    func runOffLoop(_ body: @escaping () -> Int32, then complete: @escaping (Int32) -> Void) {
        let job = OffLoopJob(body: body, complete: complete)
        offLoopJobs.append(job)
        if let offLoopRunner {
            offLoopRunner { job.run() }
        } else {
            deferred.append { job.run() }
        }
    }

    func asyncWork(_ req: UnsafeMutablePointer<raft_io_async_work>?, _ cb: raft_io_async_work_cb?) -> Int32 {
        guard let req else { return RAFT_INVALID }
        guard !isClosed else { return RAFT_CANCELED }
        req.pointee.cb = cb
        runOffLoop({ req.pointee.work?(req) ?? RAFT_INVALID }, then: { status in cb?(req, status) })
        return 0
    }

    /// Fires the completions of the jobs that have run.
    func completeOffLoopJobs() {
        var i = 0
        while i < offLoopJobs.count {
            guard let status = offLoopJobs[i].result else {
                i += 1
                continue
            }
            offLoopJobs.remove(at: i).complete(status)
        }
    }

    /// At close: waits for the jobs still running elsewhere (raft's async
    /// work uses raft's memory, which goes after close), then cancels them.
    func cancelOffLoopJobs() {
        let jobs = offLoopJobs
        offLoopJobs.removeAll()
        for job in jobs {
            job.waitUntilRun()
            job.complete(RAFT_CANCELED)
        }
    }

    /// Whether work off the loop is in flight (its completion has not fired).
    public var hasOffLoopWork: Bool { !offLoopJobs.isEmpty }
}
