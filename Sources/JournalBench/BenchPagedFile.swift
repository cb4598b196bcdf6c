public import ArgumentParser
import JournalPrimitives
import JournalCLISupport
import PagedFile
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift bench pagedfile`: the paged RAM file against a flat
/// buffer, same workload, same process, interleaved rounds.
///
/// The flat buffer is what a plain RAM disk does: one contiguous anonymous
/// mapping, no per-file lock, one memcpy per request. Each cell runs both
/// sides once per round, alternating which goes first; the report gives the
/// median and the range over rounds, and the ratio of the medians.
public struct BenchPagedFile: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "pagedfile",
        abstract: "Benchmark the paged RAM file against a flat buffer (interleaved, one process)."
    )

    @Flag(help: "Print one JSON object per cell and line.")
    var json = false

    @Option(help: "Rounds per cell; medians are taken over rounds.")
    var rounds = 5

    @Flag(help: "A quarter of the bytes per run, for a smoke test.")
    var quick = false

    @Option(help: "Run only the cells whose name contains one of these comma-separated strings.")
    var cell: String?

    @Option(help: "Slices per round: each side's run is cut into this many slices, alternating paged and flat, so that a busy minute of the machine falls on both sides alike. 1 runs each side in one piece.")
    var slices = 1

    @Flag(help: "Diagnostic: the flat side also does one atomic read-modify-write after each write's copy, as the paged file's fallback writer gate does (a full barrier on x86 that waits for the copy's stores to drain).")
    var flatFence = false

    public init() {}

    public func run() throws {
        guard rounds > 0 else { throw ValidationError("--rounds must be positive") }
        guard slices > 0 && slices <= PagedFileBench.slicesMax else {
            throw ValidationError("--slices must be between 1 and \(PagedFileBench.slicesMax)")
        }
        let filters = cell.map { $0.split(separator: ",").map(String.init) } ?? []
        let cells = PagedFileBench.cells.filter { candidate in
            filters.isEmpty || filters.contains { candidate.name.contains($0) }
        }
        guard !cells.isEmpty else { throw ValidationError("--cell matches no cell") }
        let results = try PagedFileBench(quick: quick, flatFence: flatFence).run(cells: cells, rounds: rounds, slices: slices) { line in
            if !json { print(line) }
        }
        for result in results {
            if json {
                print(result.json)
            } else {
                print(result.text)
            }
        }
    }
}

/// One cell's figures over all rounds.
struct PagedFileBenchResult {
    let cell: String
    let paged: [Double]
    let flat: [Double]

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    var pagedMedian: Double { Self.median(paged) }
    var flatMedian: Double { Self.median(flat) }
    var ratio: Double { pagedMedian / flatMedian }
    /// The median of the per-round ratios: each round runs both sides back
    /// to back, so this cancels slow phases of the machine.
    var pairedRatio: Double { Self.median(zip(paged, flat).map { $0 / $1 }) }

    static func format(_ value: Double) -> String {
        let scaled = (value * 1000).rounded() / 1000
        return "\(scaled)"
    }

    var json: String {
        "{\"cell\": \"\(cell)\", \"paged_gbps\": \(Self.format(pagedMedian)), \"flat_gbps\": \(Self.format(flatMedian)), \"ratio\": \(Self.format(ratio))}"
    }

    var text: String {
        let pagedRange = "\(Self.format(paged.min() ?? 0))-\(Self.format(paged.max() ?? 0))"
        let flatRange = "\(Self.format(flat.min() ?? 0))-\(Self.format(flat.max() ?? 0))"
        let padded = cell + String(repeating: " ", count: max(0, 22 - cell.count))
        return "\(padded) paged \(Self.format(pagedMedian)) GB/s [\(pagedRange)]  flat \(Self.format(flatMedian)) GB/s [\(flatRange)]  ratio \(Self.format(ratio)) (paired \(Self.format(pairedRatio)))"
    }
}

/// The workload and both targets.
final class PagedFileBench: @unchecked Sendable {
    // @unchecked: the flat mapping is shared by benchmark threads that write
    // disjoint or benignly racing ranges, as a RAM disk's clients would.

    static let fileBytes = 256 << 20
    static let slicesMax = 64
    static let blockBytes = 4 << 20
    let bytesPerRun: Int
    let flatFence: Bool

    private let pool: PagePool
    private let file: PagedFile
    private let flat: UnsafeMutableRawPointer

    init(quick: Bool, flatFence: Bool = false) throws {
        bytesPerRun = quick ? 256 << 20 : 1 << 30
        self.flatFence = flatFence
        // Room for the overwrite file and a fresh file at once.
        pool = try PagePool(capacityBytes: 2 * Self.fileBytes + (64 << 20))
        file = try PagedFile(pool: pool)
        flat = try Self.mapFlat()
        // Fill both sequentially so that every overwrite and read hits
        // allocated, resident memory.
        let source = UnsafeMutableRawPointer.allocate(byteCount: Self.blockBytes, alignment: 4096)
        defer { source.deallocate() }
        memset(source, 0x5A, Self.blockBytes)
        for offset in stride(from: 0, to: Self.fileBytes, by: Self.blockBytes) {
            try file.write(at: offset, from: UnsafeRawBufferPointer(start: source, count: Self.blockBytes))
            memcpy(flat + offset, source, Self.blockBytes)
        }
    }

    deinit {
        file.close()
        munmap(flat, Self.fileBytes)
    }

    static func mapFlat() throws -> UnsafeMutableRawPointer {
        let raw = mmap(nil, fileBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let raw, raw != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw ValidationError("mmap of the flat buffer failed: errno \(errno)")
        }
        return raw
    }

    enum Operation { case write, read, firstTouch }

    struct Cell {
        let name: String
        let operation: Operation
        let threads: Int
        let requestBytes: Int
    }

    static let cells: [Cell] = [
        Cell(name: "overwrite-4MiB-1w", operation: .write, threads: 1, requestBytes: blockBytes),
        Cell(name: "overwrite-4MiB-2w", operation: .write, threads: 2, requestBytes: blockBytes),
        Cell(name: "overwrite-4MiB-4w", operation: .write, threads: 4, requestBytes: blockBytes),
        Cell(name: "first-touch-4MiB-1w", operation: .firstTouch, threads: 1, requestBytes: blockBytes),
        Cell(name: "first-touch-4MiB-2w", operation: .firstTouch, threads: 2, requestBytes: blockBytes),
        Cell(name: "first-touch-4MiB-4w", operation: .firstTouch, threads: 4, requestBytes: blockBytes),
        Cell(name: "read-4MiB-1r", operation: .read, threads: 1, requestBytes: blockBytes),
        Cell(name: "read-4MiB-2r", operation: .read, threads: 2, requestBytes: blockBytes),
        Cell(name: "read-4MiB-4r", operation: .read, threads: 4, requestBytes: blockBytes),
        Cell(name: "overwrite-4KiB-1w", operation: .write, threads: 1, requestBytes: 4 << 10),
        Cell(name: "overwrite-64KiB-1w", operation: .write, threads: 1, requestBytes: 64 << 10),
        Cell(name: "overwrite-1MiB-1w", operation: .write, threads: 1, requestBytes: 1 << 20),
    ]

    func run(cells: [Cell] = PagedFileBench.cells, rounds: Int, slices: Int = 1, progress: (String) -> Void) throws -> [PagedFileBenchResult] {
        assert(slices > 0 && slices <= Self.slicesMax)
        var paged = [[Double]](repeating: [], count: cells.count)
        var flatResults = [[Double]](repeating: [], count: cells.count)
        var random = SplitMix64(seed: 0x5EED)
        for round in 0 ..< rounds {
            for (index, cell) in cells.enumerated() {
                let plan = makePlan(cell, random: &random)
                let bytes = Double(plan.reduce(0) { $0 + $1.count } * cell.requestBytes)
                let pagedTarget = try preparePaged(cell)
                let flatBase = try prepareFlat(cell)
                var pagedSeconds = 0.0
                var flatSeconds = 0.0
                for slice in 0 ..< slices {
                    let part = Self.slice(plan, slice, of: slices)
                    // Alternate which side goes first.
                    if (round + index + slice) % 2 == 0 {
                        pagedSeconds += try runPaged(cell, target: pagedTarget, plan: part)
                        flatSeconds += runFlat(cell, base: flatBase, plan: part)
                    } else {
                        flatSeconds += runFlat(cell, base: flatBase, plan: part)
                        pagedSeconds += try runPaged(cell, target: pagedTarget, plan: part)
                    }
                }
                if cell.operation == .firstTouch {
                    pagedTarget.close()
                    munmap(flatBase, Self.fileBytes)
                }
                paged[index].append(bytes / pagedSeconds / 1e9)
                flatResults[index].append(bytes / flatSeconds / 1e9)
            }
            progress("round \(round + 1)/\(rounds) done")
        }
        return cells.indices.map {
            PagedFileBenchResult(cell: cells[$0].name, paged: paged[$0], flat: flatResults[$0])
        }
    }

    /// Offsets per thread. Overwrites and reads: random request-aligned
    /// offsets in the file. First touch: every block of a fresh file exactly
    /// once, shuffled and dealt to the threads.
    func makePlan(_ cell: Cell, random: inout SplitMix64) -> [[Int]] {
        var plan = [[Int]](repeating: [], count: cell.threads)
        switch cell.operation {
        case .firstTouch:
            var blocks = Array(stride(from: 0, to: Self.fileBytes, by: cell.requestBytes))
            blocks.shuffle(using: &random)
            for (k, offset) in blocks.enumerated() { plan[k % cell.threads].append(offset) }
        case .write, .read:
            let perThread = bytesPerRun / cell.requestBytes / cell.threads
            let slots = UInt64(Self.fileBytes / cell.requestBytes)
            for t in 0 ..< cell.threads {
                plan[t] = (0 ..< perThread).map { _ in Int(random.next() % slots) * cell.requestBytes }
            }
        }
        return plan
    }

    /// Slice `index` of `count` of every thread's offsets.
    static func slice(_ plan: [[Int]], _ index: Int, of count: Int) -> [[Int]] {
        plan.map { offsets in
            let lower = offsets.count * index / count
            let upper = offsets.count * (index + 1) / count
            return Array(offsets[lower ..< upper])
        }
    }

    /// The file a round of `cell` writes or reads. First touch: a fresh file
    /// on a trimmed pool, whose pages come back from the kernel on first
    /// touch, as the flat buffer's do; the caller closes it after the round.
    private func preparePaged(_ cell: Cell) throws -> PagedFile {
        guard cell.operation == .firstTouch else { return file }
        pool.trim()
        return try PagedFile(pool: pool)
    }

    /// The flat buffer of a round; first touch: a fresh mapping the caller
    /// unmaps after the round.
    private func prepareFlat(_ cell: Cell) throws -> UnsafeMutableRawPointer {
        cell.operation == .firstTouch ? try Self.mapFlat() : flat
    }

    /// Runs `plan` against the paged file; returns the wall time in seconds.
    private func runPaged(_ cell: Cell, target: PagedFile, plan: [[Int]]) throws -> Double {
        let failures = Atomic<Int>(0)
        let seconds = timeThreads(cell: cell, plan: plan) { buffer, offset in
            do {
                if cell.operation == .read {
                    _ = try target.read(at: offset, into: buffer)
                } else {
                    try target.write(at: offset, from: UnsafeRawBufferPointer(buffer))
                }
            } catch {
                failures.wrappingAdd(1, ordering: .relaxed)
            }
        }
        guard failures.load(ordering: .relaxed) == 0 else { throw ValidationError("paged file operation failed") }
        return seconds
    }

    /// Runs `plan` against the flat buffer at `base`; returns the wall time.
    private func runFlat(_ cell: Cell, base: UnsafeMutableRawPointer, plan: [[Int]]) -> Double {
        let address = UInt(bitPattern: base)
        let fence = flatFence
        let fenceCount = Atomic<Int>(0)
        let seconds = timeThreads(cell: cell, plan: plan) { buffer, offset in
            guard let mapped = UnsafeMutableRawPointer(bitPattern: address), let request = buffer.baseAddress else { return }
            let region = mapped + offset
            if cell.operation == .read {
                memcpy(request, region, buffer.count)
            } else {
                memcpy(region, request, buffer.count)
                if fence { fenceCount.wrappingAdd(1, ordering: .releasing) }
            }
        }
        return seconds
    }

    /// Runs `cell.threads` threads over their offsets, each with its own
    /// request buffer, from a common start line; returns the wall time.
    private func timeThreads(
        cell: Cell, plan: [[Int]],
        _ body: @escaping @Sendable (UnsafeMutableRawBufferPointer, Int) -> Void
    ) -> Double {
        let shared = BenchThreads(count: cell.threads, requestBytes: cell.requestBytes, plan: plan, body: body)
        return shared.run()
    }
}

/// A start line, buffers and threads for one timed run.
private final class BenchThreads: @unchecked Sendable {
    // @unchecked: each thread touches only its own buffer and plan row; the
    // start line and the clock are atomics.
    let count: Int
    let plan: [[Int]]
    let body: @Sendable (UnsafeMutableRawBufferPointer, Int) -> Void
    let buffers: [UnsafeMutableRawBufferPointer]
    let ready = Atomic<Int>(0)
    let go = Atomic<Bool>(false)

    init(count: Int, requestBytes: Int, plan: [[Int]], body: @escaping @Sendable (UnsafeMutableRawBufferPointer, Int) -> Void) {
        self.count = count
        self.plan = plan
        self.body = body
        buffers = (0 ..< count).map { t in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: requestBytes, alignment: 4096)
            buffer.initializeMemory(as: UInt8.self, repeating: UInt8(0x30 + t))
            return buffer
        }
    }

    deinit { for buffer in buffers { buffer.deallocate() } }

    func worker(_ index: Int) {
        ready.wrappingAdd(1, ordering: .releasing)
        while !go.load(ordering: .acquiring) {}
        let buffer = buffers[index]
        for offset in plan[index] { body(buffer, offset) }
    }

    func run() -> Double {
        let threads = (0 ..< count).map { index in
            JoinableThread(name: "bench-reader") { self.worker(index) }
        }
        while ready.load(ordering: .acquiring) < count { sched_yield() }
        let start = monotonicSeconds()
        go.store(true, ordering: .releasing)
        for thread in threads { thread.join() }
        return monotonicSeconds() - start
    }
}


