import Dispatch
import JournalPrimitives

// The floor under every async append that waits for durability: a task
// suspends on a continuation, and a thread resumes it. `SuspensionFloor`
// measures that alone, with no journal and no I/O: tasks loop suspending
// on continuations, and one resumer thread, woken once every task waits,
// resumes them all, the most favorable grouping a group commit can reach
// (every appender in one batch, one wake-up per batch). No design with
// one suspension per append goes faster than this on the same machine.

/// The waiters of one floor round and the thread that resumes them.
final class SuspensionHub: @unchecked Sendable {
    private let lock = ConditionLock()
    private let changed: ConditionLock.Condition
    // Guarded by `lock`.
    private var waiters: [UnsafeContinuation<Void, Never>] = []
    private var tasksRunning: Int
    private let tasks: Int
    /// Continuations resumed, and the wake-ups of the resumer that resumed them.
    private(set) var resumed = 0
    private(set) var wakeUps = 0

    init(tasks: Int) {
        precondition(tasks >= 1)
        tasksRunning = tasks
        self.tasks = tasks
        changed = ConditionLock.Condition(lock)
        waiters.reserveCapacity(tasks)
    }

    /// Suspends until the resumer resumes this task.
    func suspend() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            lock.withLock {
                waiters.append(continuation)
                if waiters.count == tasksRunning { changed.signal() }
            }
        }
    }

    /// A task left its loop (the round is over): the resumer returns once
    /// every task has.
    func taskEnded() {
        lock.withLock {
            tasksRunning -= 1
            changed.signal()
        }
    }

    /// The resumer: once every running task waits, takes them all and
    /// resumes them outside the lock; returns when no task runs.
    func runResumer() {
        var batch: [UnsafeContinuation<Void, Never>] = []
        batch.reserveCapacity(tasks)
        while true {
            lock.lock()
            while tasksRunning > 0 && (waiters.isEmpty || waiters.count < tasksRunning) { changed.wait() }
            if tasksRunning == 0 {
                assert(waiters.isEmpty, "a task that ended waits for nothing")
                lock.unlock()
                return
            }
            swap(&batch, &waiters)
            resumed += batch.count
            wakeUps += 1
            lock.unlock()
            for continuation in batch { continuation.resume() }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

/// One floor round's outcome.
struct SuspensionFloorRound: Equatable {
    /// Suspensions the tasks counted, and the resumer's count of resumes.
    var suspensions: Int
    var resumed: Int
    var wakeUps: Int
    var nanoseconds: UInt64

    var perSecond: Double { Double(suspensions) / (Double(nanoseconds) / 1e9) }
    var perWakeUp: Double { Double(resumed) / Double(max(wakeUps, 1)) }
}

/// Runs `tasks` tasks on the cooperative pool for about `seconds`, each
/// suspending in a loop on the hub (at least once, however late it starts). Blocks the calling thread (not a pool
/// thread) until every task and the resumer have ended.
func runSuspensionFloor(tasks: Int, seconds: Double) throws(BenchError) -> SuspensionFloorRound {
    precondition(tasks >= 1 && seconds > 0)
    let hub = SuspensionHub(tasks: tasks)
    let control = RoundControl()
    let resumer = try startBenchThread { hub.runResumer() }
    let done = DispatchSemaphore(value: 0)
    let counts = LockedValue([Int]())
    Task.detached {
        await withTaskGroup(of: Int.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    var n = 0
                    repeat {
                        await hub.suspend()
                        n += 1
                    } while control.phase.load(ordering: .acquiring) != RoundControl.stopping
                    hub.taskEnded()
                    return n
                }
            }
            for await n in group { counts.withLock { $0.append(n) } }
        }
        done.signal()
    }
    let start = monotonicNanos()
    benchSleep(seconds: seconds)
    control.phase.store(RoundControl.stopping, ordering: .releasing)
    done.wait()
    let nanoseconds = monotonicNanos() - start
    resumer.join()
    let suspensions = counts.withLock { $0.reduce(0, +) }
    return SuspensionFloorRound(suspensions: suspensions, resumed: hub.resumed, wakeUps: hub.wakeUps, nanoseconds: nanoseconds)
}
