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

private final class ThreadStart: @unchecked Sendable {
    let run: WriterRun
    let writer: Int
    init(_ run: WriterRun, _ writer: Int) {
        self.run = run
        self.writer = writer
    }
}

/// Runs `writers` threads calling `body(writer, i)` for `seconds`; returns
/// the calls that succeeded (per writer) and the elapsed seconds.
func runWriters(_ writers: Int, seconds: Double, _ body: @escaping @Sendable (Int, Int) -> Bool) -> ([Int], Double) {
    let run = WriterRun(writers: writers, body)
    var threads: [pthread_t] = []
    let start = nowSeconds()
    for w in 0..<writers {
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            guard let raw else { return nil }
            let s = Unmanaged<ThreadStart>.fromOpaque(raw).takeRetainedValue()
            var i = 0
            while !s.run.stop.load(ordering: .relaxed) {
                guard s.run.body(s.writer, i) else { break }
                i += 1
                s.run.total.add(1, ordering: .relaxed)
            }
            s.run.perWriter[s.writer] = i
            return nil
        }, Unmanaged.passRetained(ThreadStart(run, w)).toOpaque())
        precondition(rc == 0, "pthread_create")
        threads.append(t)
    }
    while nowSeconds() - start < seconds { usleep(10_000) }
    run.stop.store(true, ordering: .relaxed)
    for t in threads { pthread_join(t, nil) }
    let elapsed = nowSeconds() - start
    return ((0..<writers).map { run.perWriter[$0] }, elapsed)
}

/// Runs `writers` tasks (detached, on the cooperative pool) calling
/// `body(writer, i)` for `seconds`; returns the calls that succeeded (per
/// writer) and the elapsed seconds. The calling thread (not a pool thread)
/// sleeps in 10 ms steps until the window ends and every task stopped.
func runWriterTasks(_ writers: Int, seconds: Double, _ body: @escaping @Sendable (Int, Int) async -> Bool) -> ([Int], Double) {
    let run = WriterRun(writers: writers) { _, _ in true }
    let start = nowSeconds()
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
    while nowSeconds() - start < seconds { usleep(10_000) }
    run.stop.store(true, ordering: .relaxed)
    while run.stopped.load(ordering: .acquiring) < writers { usleep(1_000) }
    let elapsed = nowSeconds() - start
    return ((0..<writers).map { run.perWriter[$0] }, elapsed)
}

/// Seconds on the monotonic clock.
func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
