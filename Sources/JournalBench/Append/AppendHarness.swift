import JournalPrimitives
import Dispatch
import Journal
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Which journal API the appenders use.
enum AppendAPI: String, CaseIterable, Sendable {
    /// `appendBlocking(_:)` from N pthreads (the primary measurement).
    case blocking
    /// `append(_:) async` from N tasks.
    case async
}

/// What one measured round of appends produced.
struct AppendRound: Sendable {
    var operations: Int
    var payloadBytes: Int
    var seconds: Double
    /// Per-append latency.
    var latency: LatencyPercentiles
    /// Appends whose latency did not fit the preallocated arrays (counted,
    /// not timed).
    var untimed: Int

    var perSecond: Double { seconds > 0 ? Double(operations) / seconds : 0 }

    var megabytesPerSecond: Double { seconds > 0 ? Double(payloadBytes) / seconds / 1e6 : 0 }
}

extension AppendRound {
    /// A round from its workers' counts and the latencies they timed.
    init(workers: [LatencyLog], recordBytes: Int, nanoseconds: UInt64) {
        var operations = 0
        var untimed = 0
        var all: [UInt64] = []
        all.reserveCapacity(workers.reduce(0) { $0 + $1.timed })
        for w in workers {
            operations += w.operations
            untimed += w.operations - w.timed
            all.append(contentsOf: UnsafeBufferPointer(start: w.latencies, count: w.timed))
        }
        all.sort()
        self.init(
            operations: operations, payloadBytes: operations * recordBytes, seconds: Double(nanoseconds) / 1e9,
            latency: LatencyPercentiles(sorted: all), untimed: untimed)
    }
}

func benchSleep(seconds: Double) {
    guard seconds > 0 else { return }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// Phases of a round, shared by the driver and the workers.
final class RoundControl: Sendable {
    static let warmingUp = 0
    static let measuring = 1
    static let stopping = 2
    let phase = Atomic<Int>(RoundControl.warmingUp)
    /// The first failure of a worker, as text.
    let failure = Mutex<String?>(nil)

    func fail(_ error: any Error) {
        failure.withLock { if $0 == nil { $0 = "\(error)" } }
        phase.store(Self.stopping, ordering: .releasing)
    }

    /// Tells the workers to stop, then waits for them (`join`).
    func stop(join: () -> Void) {
        phase.store(Self.stopping, ordering: .releasing)
        join()
    }

    /// Runs a round whose workers have started: `warmupSeconds` unmeasured,
    /// then `seconds` measured, then stops the workers and waits for them
    /// (`join`). Returns the measured window, nanoseconds.
    func measureWindow(warmupSeconds: Double, seconds: Double, join: () -> Void) -> UInt64 {
        benchSleep(seconds: warmupSeconds)
        let start = monotonicNanos()
        _ = phase.compareExchange(expected: Self.warmingUp, desired: Self.measuring, ordering: .acquiringAndReleasing)
        benchSleep(seconds: seconds)
        let end = monotonicNanos()
        stop(join: join)
        return end - start
    }
}

/// A worker's preallocated latency array, written only by the worker while
/// the round runs and read by the driver after it joined the worker.
class LatencyLog: @unchecked Sendable {
    let latencies: UnsafeMutablePointer<UInt64>
    let capacity: Int
    final var timed = 0
    final var operations = 0

    init(capacity: Int) {
        self.capacity = capacity
        latencies = .allocate(capacity: capacity)
    }

    deinit { latencies.deallocate() }

    /// Notes one operation that started and ended inside the measured window.
    @inline(__always)
    final func note(_ nanos: UInt64) {
        if timed < capacity {
            latencies[timed] = nanos
            timed += 1
        }
        operations += 1
    }

    /// Notes the operation that began at `start` in `phase` and ended now,
    /// when the whole of it lies inside the window: it started after
    /// measuring began and ended before it stopped.
    @inline(__always)
    final func noteIfMeasured(start: UInt64, phase: Int, _ control: RoundControl) {
        let end = monotonicNanos()
        if phase == RoundControl.measuring && control.phase.load(ordering: .acquiring) == RoundControl.measuring {
            note(end - start)
        }
    }

    /// A closed loop: calls `operation` again as soon as it returns, until
    /// the round stops; a failure stops the round.
    final func runClosedLoop(_ control: RoundControl, _ operation: () throws -> Void) {
        while true {
            let phase = control.phase.load(ordering: .acquiring)
            if phase == RoundControl.stopping { return }
            let start = monotonicNanos()
            do { try operation() } catch {
                control.fail(error)
                return
            }
            noteIfMeasured(start: start, phase: phase, control)
        }
    }
}

/// One appender's private state: its payload and its latency log.
final class AppendWorker: LatencyLog, @unchecked Sendable {
    let payload: UnsafeMutableRawBufferPointer
    let payloadArray: [UInt8]

    init(recordBytes: Int, capacity: Int, seed: UInt64) {
        var bytes = [UInt8](repeating: 0, count: recordBytes)
        bytes.withUnsafeMutableBytes { PseudoRandomBytes.fill($0, seed: seed | 1) }
        payloadArray = bytes
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(recordBytes, 1), alignment: 64)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        payload = buffer
        super.init(capacity: capacity)
    }

    deinit { payload.deallocate() }

    var record: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: payload.baseAddress, count: payloadArray.count)
    }

    /// The blocking appender loop.
    func runBlocking(_ journal: Journal, _ control: RoundControl) {
        let record = self.record
        runClosedLoop(control) { _ = try journal.appendBlocking(record) }
    }

    /// The pipelined appender loop: `enqueue` until `window` appends are
    /// outstanding, then wait for the oldest to be durable. An append's
    /// latency runs from its enqueue to the moment its durability is seen;
    /// it counts when both lie inside the measured window.
    func runPipelined(_ journal: Journal, _ control: RoundControl, window: Int) {
        let record = self.record
        var ring = PendingRing(capacity: window)
        defer { ring.deallocate() }
        while control.phase.load(ordering: .acquiring) != RoundControl.stopping {
            do {
                if try enqueueCounted(&ring, control, { () throws(JournalError) in try journal.enqueue(record) }) {
                    try journal.waitUntilDurableBlocking(ring.oldestLSN)
                }
            } catch {
                control.fail(error)
                return
            }
            retire(&ring, journal, control)
        }
        // Outstanding appends become durable uncounted, before the journal closes.
        if !ring.isEmpty { try? journal.waitUntilDurableBlocking(ring.newestLSN) }
    }

    /// The pipelined loop on tasks: `enqueue`, then `await waitUntilDurable`.
    func runPipelinedAsync(_ journal: Journal, _ control: RoundControl, window: Int) async {
        let record = payloadArray
        var ring = PendingRing(capacity: window)
        defer { ring.deallocate() }
        while control.phase.load(ordering: .acquiring) != RoundControl.stopping {
            do {
                if try enqueueCounted(&ring, control, { () throws(JournalError) in try journal.enqueue(record) }) {
                    try await journal.waitUntilDurable(ring.oldestLSN)
                }
            } catch {
                control.fail(error)
                return
            }
            retire(&ring, journal, control)
        }
        if !ring.isEmpty { try? await journal.waitUntilDurable(ring.newestLSN) }
    }

    /// Enqueues one append into `ring`, its latency counted when the round
    /// is measuring; true when `ring` is full and the oldest must be waited for.
    @inline(__always)
    private func enqueueCounted(
        _ ring: inout PendingRing, _ control: RoundControl, _ enqueue: () throws(JournalError) -> LSN
    ) throws(JournalError) -> Bool {
        let phase = control.phase.load(ordering: .acquiring)
        let start = monotonicNanos()
        ring.push(lsn: try enqueue(), start: start, measured: phase == RoundControl.measuring)
        return ring.isFull
    }

    /// Notes the outstanding appends that are durable now.
    @inline(__always)
    private func retire(_ ring: inout PendingRing, _ journal: Journal, _ control: RoundControl) {
        let durable = journal.durableLSN
        guard !ring.isEmpty, ring.oldestLSN <= durable else { return }
        let now = monotonicNanos()
        let measuring = control.phase.load(ordering: .acquiring) == RoundControl.measuring
        while !ring.isEmpty && ring.oldestLSN <= durable {
            let (start, measured) = ring.pop()
            if measured && measuring { note(now - start) }
        }
    }

    /// The async appender loop: `runClosedLoop`'s on a task (an async
    /// operation cannot run in its synchronous body).
    func runAsync(_ journal: Journal, _ control: RoundControl) async {
        let record = payloadArray
        while true {
            let phase = control.phase.load(ordering: .acquiring)
            if phase == RoundControl.stopping { return }
            let start = monotonicNanos()
            do { _ = try await journal.append(record) } catch {
                control.fail(error)
                return
            }
            noteIfMeasured(start: start, phase: phase, control)
        }
    }
}

/// The outstanding appends of a pipelined appender, oldest first: a fixed
/// ring, so the loop allocates nothing.
struct PendingRing {
    private let lsns: UnsafeMutablePointer<LSN>
    private let starts: UnsafeMutablePointer<UInt64>
    private let measured: UnsafeMutablePointer<Bool>
    let capacity: Int
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
        lsns = .allocate(capacity: capacity)
        starts = .allocate(capacity: capacity)
        measured = .allocate(capacity: capacity)
    }

    func deallocate() {
        lsns.deallocate()
        starts.deallocate()
        measured.deallocate()
    }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == capacity }
    var oldestLSN: LSN { lsns[head] }
    var newestLSN: LSN { lsns[(head + count - 1) % capacity] }

    mutating func push(lsn: LSN, start: UInt64, measured m: Bool) {
        precondition(count < capacity, "the window is full")
        let i = (head + count) % capacity
        lsns[i] = lsn
        starts[i] = start
        measured[i] = m
        count += 1
    }

    mutating func pop() -> (start: UInt64, measured: Bool) {
        precondition(count > 0)
        let out = (starts[head], measured[head])
        head = (head + 1) % capacity
        count -= 1
        return out
    }
}

/// Starts a benchmark thread; a thread the system cannot make ends the
/// round with an error rather than a crash.
func startBenchThread(_ body: @escaping @Sendable () -> Void) throws(BenchError) -> JoinableThread {
    do { return try JoinableThread.start(name: "bench", body) } catch { throw BenchError("pthread_create failed (\(error))") }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs rounds of appenders against one open journal.
struct AppendHarness {
    let journal: Journal
    let appenders: Int
    let recordBytes: Int
    /// Outstanding appends per appender (1: each append waits).
    var window = 1
    let api: AppendAPI
    let warmupSeconds: Double
    let seconds: Double
    /// Truncate behind the durable LSN while appending, so that segments are
    /// recycled rather than zero-filled anew (a log whose owner checkpoints).
    let truncateBehind: Bool

    /// The index of the segment being written (from its file name).
    func activeSegmentIndex() -> Int {
        guard let name = journal.segmentSummaries.last?.name else { return 0 }
        return Int(name.prefix { $0.isNumber }) ?? 0
    }

    /// Runs the workload unmeasured until the journal has rolled over to a
    /// new segment `rollovers` times (so that released segments are being
    /// recycled rather than zero-filled: the steady state of a log that
    /// checkpoints), or for `maxSeconds`. Returns the rollovers seen and the
    /// seconds taken.
    func prime(rollovers: Int, maxSeconds: Double) throws(BenchError) -> (rollovers: Int, seconds: Double) {
        let first = activeSegmentIndex()
        let start = monotonicNanos()
        _ = try runRound(measure: false) {
            activeSegmentIndex() - first >= rollovers || Double(monotonicNanos() - start) / 1e9 >= maxSeconds
        }
        return (activeSegmentIndex() - first, Double(monotonicNanos() - start) / 1e9)
    }

    func runRound() throws(BenchError) -> AppendRound {
        try runRound(measure: true, until: nil)
    }

    private func runRound(measure: Bool, until done: (() -> Bool)?) throws(BenchError) -> AppendRound {
        // Enough room for ~2M appends/s in total; beyond that appends are
        // counted but not timed.
        let perWorker = measure ? max(4096, Int(seconds * 2_000_000) / appenders + 1024) : 1
        let workers = (0..<appenders).map { AppendWorker(recordBytes: recordBytes, capacity: perWorker, seed: UInt64($0 + 1) &* 0x9E37_79B9_7F4A_7C15) }
        let control = RoundControl()
        let journal = self.journal

        var threads: [JoinableThread] = []
        var asyncDone: DispatchSemaphore?
        let join = {
            for t in threads { t.join() }
            asyncDone?.wait()
        }
        do {
            try startWorkers(workers, journal: journal, control: control, threads: &threads, asyncDone: &asyncDone)
        } catch {
            control.stop(join: join)
            throw error
        }

        var nanoseconds: UInt64 = 0
        if let done {
            while !done() && control.phase.load(ordering: .acquiring) != RoundControl.stopping { benchSleep(seconds: 0.02) }
            control.stop(join: join)
        } else {
            nanoseconds = control.measureWindow(warmupSeconds: warmupSeconds, seconds: seconds, join: join)
        }
        if let failure = control.failure.withLock({ $0 }) {
            throw BenchError("append failed: \(failure)")
        }
        guard measure else { return AppendRound(operations: 0, payloadBytes: 0, seconds: 0, latency: .none, untimed: 0) }
        return AppendRound(workers: workers, recordBytes: recordBytes, nanoseconds: nanoseconds)
    }

    /// Starts the round's appenders (threads, or tasks for the async API)
    /// and the truncating thread if asked for. They wait for the round's
    /// phase to change before they count anything.
    private func startWorkers(
        _ workers: [AppendWorker], journal: Journal, control: RoundControl,
        threads: inout [JoinableThread], asyncDone: inout DispatchSemaphore?
    ) throws(BenchError) {
        switch api {
        case .blocking:
            let window = self.window
            for w in workers {
                threads.append(try startBenchThread {
                    if window > 1 { w.runPipelined(journal, control, window: window) } else { w.runBlocking(journal, control) }
                })
            }
        case .async:
            let done = DispatchSemaphore(value: 0)
            asyncDone = done
            let window = self.window
            Task.detached {
                await withTaskGroup(of: Void.self) { group in
                    for w in workers {
                        group.addTask {
                            if window > 1 { await w.runPipelinedAsync(journal, control, window: window) } else { await w.runAsync(journal, control) }
                        }
                    }
                }
                done.signal()
            }
        }
        if truncateBehind {
            threads.append(try startBenchThread {
                while control.phase.load(ordering: .acquiring) != RoundControl.stopping {
                    benchSleep(seconds: 0.02)
                    do throws(JournalError) { try journal.truncate(before: journal.durableLSN) } catch { control.fail(error) }
                }
            })
        }
    }
}

/// The nearest-rank percentile of sorted values (0 when empty).
func percentile(_ sorted: [UInt64], _ q: Double) -> UInt64 {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((q * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}
