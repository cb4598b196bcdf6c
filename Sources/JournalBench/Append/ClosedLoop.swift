import JournalPrimitives
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A closed loop of `threads` workers calling one durable operation as fast
/// as it returns, measured the way the journal's appenders are: a warm-up,
/// then a window in which only operations that start and end inside it are
/// timed. The peers of `bench append` (the hand-written group commit, SQLite)
/// run through it, so that their figures mean the same as ours.
struct ClosedLoop {
    let threads: Int
    let recordBytes: Int
    let warmupSeconds: Double
    let seconds: Double

    /// Runs one round; `operation(worker)` performs one durable commit of a
    /// `recordBytes` record on behalf of `worker` (0..<threads) and throws on
    /// failure, which stops the round.
    func run(_ operation: @escaping @Sendable (Int) throws -> Void) throws(BenchError) -> AppendRound {
        precondition(threads >= 1 && seconds > 0)
        let capacity = max(4096, Int(seconds * 2_000_000) / threads + 1024)
        let workers = (0..<threads).map { _ in LoopWorker(capacity: capacity) }
        let control = LoopControl()
        var started: [JoinableThread] = []
        do {
            for (index, worker) in workers.enumerated() {
                started.append(try startBenchThread { worker.run(index, control, operation) })
            }
        } catch {
            control.phase.store(RoundControl.stopping, ordering: .releasing)
            for t in started { t.join() }
            throw error
        }
        benchSleep(seconds: warmupSeconds)
        let start = monotonicNanos()
        _ = control.phase.compareExchange(expected: RoundControl.warmingUp, desired: RoundControl.measuring, ordering: .acquiringAndReleasing)
        benchSleep(seconds: seconds)
        let end = monotonicNanos()
        control.phase.store(RoundControl.stopping, ordering: .releasing)
        for t in started { t.join() }
        if let failure = control.failure.withLock({ $0 }) { throw BenchError(failure) }

        // The workers own the latency buffers: keep them alive while the
        // round reads them (their last use is otherwise the map).
        return withExtendedLifetime(workers) {
            AppendRound(
                workers: workers.map { ($0.operations, $0.timed, UnsafePointer($0.latencies)) },
                recordBytes: recordBytes, nanoseconds: end - start)
        }
    }
}

private final class LoopControl: Sendable {
    let phase = Atomic<Int>(RoundControl.warmingUp)
    let failure = Mutex<String?>(nil)

    func fail(_ error: any Error) {
        failure.withLock { if $0 == nil { $0 = "\(error)" } }
        phase.store(RoundControl.stopping, ordering: .releasing)
    }
}

/// One worker's latency array, written only by its thread while the round
/// runs and read by the driver after joining it.
private final class LoopWorker: @unchecked Sendable {
    let latencies: UnsafeMutablePointer<UInt64>
    let capacity: Int
    var timed = 0
    var operations = 0

    init(capacity: Int) {
        self.capacity = capacity
        latencies = .allocate(capacity: capacity)
    }

    deinit { latencies.deallocate() }

    func run(_ index: Int, _ control: LoopControl, _ operation: @Sendable (Int) throws -> Void) {
        while true {
            let phase = control.phase.load(ordering: .acquiring)
            if phase == RoundControl.stopping { return }
            let start = monotonicNanos()
            do { try operation(index) } catch {
                control.fail(error)
                return
            }
            let end = monotonicNanos()
            if phase == RoundControl.measuring && control.phase.load(ordering: .acquiring) == RoundControl.measuring {
                if timed < capacity {
                    latencies[timed] = end - start
                    timed += 1
                }
                operations += 1
            }
        }
    }
}
