// Microbenchmarks of the hot paths: the record encoder, CRC32C, and page
// writes in the paged file. Each reports wall clock, throughput and
// allocations; `make bench-micro` checks them against the stored baseline
// (.benchmarkBaselines/) with the thresholds below. See ../../README.md.

import Benchmark
@_spi(Benchmarks) import Journal
import JournalPrimitives
import PagedFile

/// The configuration of every hot-path benchmark; figures are per inner
/// iteration (`scaledIterations`, `scaling` of them per sample).
///
/// Allocations are exact: any new malloc on these paths is a regression.
/// Wall clock and throughput are checked at the 25th percentile, which other
/// processes' load moves much less than the median, within
/// `timeTolerancePercent`: this machine is shared (2 cores, other builds
/// running), and cells that stream megabytes through memory (1 MiB) swing
/// with the other processes' memory traffic, so they get a wider margin.
func configuration(scaling: BenchmarkScalingFactor, timeTolerancePercent: Double = 35) -> Benchmark.Configuration {
    let allocationsExact = BenchmarkThresholds(absolute: [.p25: 0, .p50: 0, .p75: 0])
    let timeLoose = BenchmarkThresholds(relative: [.p25: timeTolerancePercent])
    return Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        // Fixed units, so that the exported figures compare across runs.
        timeUnits: .nanoseconds,
        units: [.throughput: .count, .mallocCountTotal: .count],
        warmupIterations: 5,
        scalingFactor: scaling,
        maxDuration: .seconds(1),
        maxIterations: 10_000,
        thresholds: [
            .mallocCountTotal: allocationsExact,
            .wallClock: timeLoose,
            .throughput: timeLoose,
        ]
    )
}

/// Bytes that stay allocated for a whole run (set-up, not measured).
final class Bytes: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    init(count: Int, seed: UInt8) {
        buffer = .allocate(byteCount: count, alignment: 4096)
        for i in 0..<count { buffer[i] = UInt8(truncatingIfNeeded: i &* 31) &+ seed }
    }
    var raw: UnsafeRawBufferPointer { UnsafeRawBufferPointer(buffer) }
    deinit { buffer.deallocate() }
}

let benchmarks: @Sendable () -> Void = {
    // MARK: Record encode

    // One record at the start of a segment (after its 128 B header), as the
    // writer encodes it into a batch: fragments at 32 KiB pages, header
    // checksums chained. 64 KiB and 1 MiB records span pages.
    let encoder = BenchmarkRecordEncoder()
    let at = JournalFormat.segmentHeaderBytes
    for (name, payloadBytes, scaling, tolerance) in [
        ("encode-128B", 128, BenchmarkScalingFactor.kilo, 35.0),
        ("encode-64KiB", 64 << 10, .one, 35),
        ("encode-1MiB", 1 << 20, .one, 100),
    ] {
        let payload = Bytes(count: payloadBytes, seed: 1)
        let segment = Bytes(count: encoder.encodedEnd(payloadBytes: payloadBytes, at: at), seed: 0)
        Benchmark(name, configuration: configuration(scaling: scaling, timeTolerancePercent: tolerance)) { benchmark in
            var chain: UInt32 = 0
            for i in benchmark.scaledIterations {
                chain = encoder.encode(payload.raw, lsn: LSN(i + 1), previousCRC: chain, into: segment.buffer, at: at).lastCRC
            }
            blackHole(chain)
        }
    }

    // MARK: CRC32C

    for (name, count, scaling, tolerance) in [
        ("crc32c-64B", 64, BenchmarkScalingFactor.kilo, 35.0),
        ("crc32c-4KiB", 4 << 10, .kilo, 35),
        ("crc32c-1MiB", 1 << 20, .one, 100),
    ] {
        let bytes = Bytes(count: count, seed: 2)
        Benchmark(name, configuration: configuration(scaling: scaling, timeTolerancePercent: tolerance)) { benchmark in
            var crc: UInt32 = 0
            for _ in benchmark.scaledIterations {
                crc = CRC32C.update(crc, bytes.raw)
            }
            blackHole(crc)
        }
    }

    // MARK: Paged file

    let pageBytes = PagePool.pageBytesDefault
    let page = Bytes(count: pageBytes, seed: 3)

    // A page written into a fresh slot: rent a zero page from the pool,
    // publish it with a compare-and-swap, copy, publish the length. Each
    // sample writes one page into a hole, then truncates the file
    // (unmeasured): the page goes back to the pool's free list, zeroed and
    // still in cache, and the next sample rents it again. (Writing many
    // fresh pages per sample would measure the memory bus instead.)
    let fresh = PagedFileUnderTest(capacityBytes: 4 * pageBytes)
    Benchmark("pagedfile-publish-fresh-64KiB", configuration: configuration(scaling: .one)) { benchmark in
        do {
            benchmark.startMeasurement()
            try fresh.file.write(at: 0, from: page.raw)
            benchmark.stopMeasurement()
            try fresh.file.setLength(0)
        } catch {
            benchmark.error("paged file: \(error)")
        }
    }

    // Overwrites of a page already in the table: the lock-free path every
    // write of a warm file takes (gate, slot load, copy, length).
    for (name, writeBytes) in [("pagedfile-overwrite-64KiB", pageBytes), ("pagedfile-overwrite-4KiB", 4 << 10)] {
        let data = Bytes(count: writeBytes, seed: 4)
        let warm = PagedFileUnderTest(capacityBytes: 4 * pageBytes, filledBytes: pageBytes, with: page.raw)
        Benchmark(name, configuration: configuration(scaling: .kilo)) { benchmark in
            do {
                for _ in benchmark.scaledIterations {
                    try warm.file.write(at: 0, from: data.raw)
                }
            } catch {
                benchmark.error("paged file: \(error)")
            }
        }
    }
}

/// A paged file over a pool of its own, kept for a whole run.
final class PagedFileUnderTest: @unchecked Sendable {
    let file: PagedFile

    /// Stops the run when the file cannot be made: a benchmark that
    /// silently went missing would pass the baseline check.
    init(capacityBytes: Int, filledBytes: Int = 0, with bytes: UnsafeRawBufferPointer? = nil) {
        do {
            file = try PagedFile(pool: try PagePool(capacityBytes: capacityBytes))
            if let bytes {
                for offset in stride(from: 0, to: filledBytes, by: bytes.count) { try file.write(at: offset, from: bytes) }
            }
        } catch {
            fatalError("cannot make a paged file of \(capacityBytes) bytes: \(error)")
        }
    }
}
