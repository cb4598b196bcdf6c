import JournalPrimitives
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// The writers of `bench kv`: threads (blocking puts, and every peer) or
// tasks on the cooperative pool (async puts), each putting its own keys
// until the window ends.

/// A counter and a stop flag shared by writer threads.
private final class WriterRun: @unchecked Sendable {
    let stop = Atomic<Bool>(false)
    let total = Atomic<Int>(0)
    /// Writer tasks that stopped (`runWriterTasks`).
    let stopped = Atomic<Int>(0)
    let body: @Sendable (Int, Int) -> Bool
    /// Puts done by each writer, stored by the writer when it stops.
    let perWriter: UnsafeMutablePointer<Int>
    init(writers: Int, _ body: @escaping @Sendable (Int, Int) -> Bool) {
        self.body = body
        perWriter = .allocate(capacity: writers)
        perWriter.initialize(repeating: 0, count: writers)
    }
    deinit { perWriter.deallocate() }
}

/// Runs `writers` threads calling `body(writer, i)` for `seconds`; returns
/// the calls that succeeded (per writer) and the elapsed seconds.
func runWriters(_ writers: Int, seconds: Double, _ body: @escaping @Sendable (Int, Int) -> Bool) -> ([Int], Double) {
    let run = WriterRun(writers: writers, body)
    let start = monotonicSeconds()
    let threads = (0..<writers).map { w in
        JoinableThread(name: "bench-writer") {
            var i = 0
            while !run.stop.load(ordering: .relaxed) {
                guard run.body(w, i) else { break }
                i += 1
                run.total.add(1, ordering: .relaxed)
            }
            run.perWriter[w] = i
        }
    }
    while monotonicSeconds() - start < seconds { usleep(10_000) }
    run.stop.store(true, ordering: .relaxed)
    for t in threads { t.join() }
    let elapsed = monotonicSeconds() - start
    return ((0..<writers).map { run.perWriter[$0] }, elapsed)
}

/// Runs `writers` tasks (detached, on the cooperative pool) calling
/// `body(writer, i)` for `seconds`; returns the calls that succeeded (per
/// writer) and the elapsed seconds. The calling thread (not a pool thread)
/// sleeps in 10 ms steps until the window ends and every task stopped.
func runWriterTasks(_ writers: Int, seconds: Double, _ body: @escaping @Sendable (Int, Int) async -> Bool) -> ([Int], Double) {
    let run = WriterRun(writers: writers) { _, _ in true }
    let start = monotonicSeconds()
    for w in 0..<writers {
        Task.detached {
            var i = 0
            while !run.stop.load(ordering: .relaxed) {
                guard await body(w, i) else { break }
                i += 1
                run.total.add(1, ordering: .relaxed)
            }
            run.perWriter[w] = i
            run.stopped.add(1, ordering: .releasing)
        }
    }
    while monotonicSeconds() - start < seconds { usleep(10_000) }
    run.stop.store(true, ordering: .relaxed)
    while run.stopped.load(ordering: .acquiring) < writers { usleep(1_000) }
    let elapsed = monotonicSeconds() - start
    return ((0..<writers).map { run.perWriter[$0] }, elapsed)
}
