import JournalPrimitives

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
        let workers = (0..<threads).map { _ in LatencyLog(capacity: capacity) }
        let control = RoundControl()
        var started: [JoinableThread] = []
        let join = { for t in started { t.join() } }
        do {
            for (index, worker) in workers.enumerated() {
                started.append(try startBenchThread { worker.runClosedLoop(control) { try operation(index) } })
            }
        } catch {
            control.stop(join: join)
            throw error
        }
        let nanoseconds = control.measureWindow(warmupSeconds: warmupSeconds, seconds: seconds, join: join)
        if let failure = control.failure.withLock({ $0 }) { throw BenchError(failure) }
        return AppendRound(workers: workers, recordBytes: recordBytes, nanoseconds: nanoseconds)
    }
}
