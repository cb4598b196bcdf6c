import JournalPrimitives
import ArgumentParser
import Journal
import JournalCLISupport
import JournalStorage

/// `journalctl-swift demo`: the main job. Appends a concurrent workload,
/// reopens, replays and checks every new record, and reports.
struct Demo: AsyncParsableCommand, JournalCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append a concurrent workload, reopen, replay and check it, and report.",
        discussion: """
            Creates the journal if missing (default segment size and limits), then runs --appenders \
            concurrent tasks, each appending --records records of mixed sizes (mostly 64-512 B, some \
            up to 8 KiB, a few up to 64 KiB that span pages) and waiting for each to be durable. Then \
            it closes the journal, reopens it (running recovery), replays the new records and checks \
            each byte against what was appended. Safe to run repeatedly: each run appends and checks \
            its own records. Exit 65 if the check fails.
            """)

    @OptionGroup var location: JournalLocation

    @Option(name: .long, help: "Concurrent appenders (tasks).")
    var appenders = 16

    @Option(name: .long, help: "Records per appender.")
    var records = 1000

    func validate() throws {
        guard (1...1024).contains(appenders) else { throw ValidationError("--appenders must be in 1...1024") }
        guard (1...1_000_000).contains(records) else { throw ValidationError("--records must be in 1...1000000") }
    }

    func run() async throws {
        let storage = try location.storage(create: true)
        let (journal, created) = try openOrCreate(storage)
        let base = journal.nextLSN
        let workload = DemoWorkload(seed: base, recordBytesMax: journal.configuration.recordBytesMax)
        let started = monotonicNanos()
        let perAppender: [[(lsn: LSN, nanos: UInt64)]]
        do {
            perAppender = try await append(workload, to: journal)
        } catch {
            journal.close()
            throw CLIError.from(error) ?? CLIError(.ioError, "\(error)")
        }
        let elapsedNanos = monotonicNanos() - started
        journal.close()
        let expected = try expectedRecords(perAppender, base: base, workload: workload)

        // Reopen: recovery runs; then replay the new records and compare.
        let reader: Journal
        do { reader = try Journal.openForReading(storage: storage) } catch { throw CLIError(error) }
        let (matched, firstMismatch) = try replayCheck(reader, base: base, expected: expected.slots, workload: workload)
        let total = expected.slots.count
        let ok = matched == total && firstMismatch == nil
        let seconds = Double(elapsedNanos) / 1e9
        let latencies = expected.latencies
        print("""
            journal   \(location.journal)\(created ? " (created)" : "")
            appended  \(total) records, \(formatBytes(expected.bytes)), \(appenders) concurrent appenders, in \(formatDecimal(seconds, places: 2)) s
            rate      \(formatDecimal(Double(total) / seconds, places: 0)) appends/s, \(formatBytes(Int(Double(expected.bytes) / seconds)))/s
            latency   p50 \(percentile(latencies, 0.50)), p99 \(percentile(latencies, 0.99)), max \(latencies.last.map(formatMicros) ?? "-") (append until durable)
            recovery  \(reader.recoveryReport.description)
            backend   \(storage.ioBackend.backend.rawValue) (\(storage.ioBackend.reason))
            replay    \(matched) of \(total) new records match, LSN \(base)...\(base + LSN(total) - 1): \(ok ? "OK" : "FAILED")
            """)
        if !ok {
            throw CLIError(.corruption, "demo: replay check failed: \(firstMismatch ?? "\(total - matched) records missing")")
        }
    }

    /// Creates the journal if the directory holds none, and opens it.
    private func openOrCreate(_ storage: any StorageDirectory) throws -> (Journal, created: Bool) {
        var created = false
        do {
            try Journal.create(storage: storage)
            created = true
        } catch .alreadyExists {
            // Append to the journal already there.
        } catch {
            throw CLIError(error)
        }
        do { return (try Journal.open(storage: storage), created) } catch { throw CLIError(error) }
    }

    /// Runs the appenders as concurrent tasks; each appends its records
    /// one by one, waiting for each to be durable. Returns, per appender,
    /// each record's LSN and append latency.
    private func append(_ workload: DemoWorkload, to journal: Journal) async throws -> [[(lsn: LSN, nanos: UInt64)]] {
        let records = records
        var perAppender: [[(lsn: LSN, nanos: UInt64)]] = Array(repeating: [], count: appenders)
        try await withThrowingTaskGroup(of: (Int, [(lsn: LSN, nanos: UInt64)]).self) { group in
            for a in 0..<appenders {
                group.addTask {
                    var results: [(lsn: LSN, nanos: UInt64)] = []
                    results.reserveCapacity(records)
                    for i in 0..<records {
                        let payload = workload.payload(appender: a, index: i)
                        let t0 = monotonicNanos()
                        let lsn = try await journal.append(payload)
                        results.append((lsn, monotonicNanos() - t0))
                    }
                    return (a, results)
                }
            }
            for try await (a, results) in group { perAppender[a] = results }
        }
        return perAppender
    }

    /// Which (appender, index) each new LSN should hold, the bytes
    /// appended, and the sorted latencies. Fails if an LSN came back
    /// outside the run's range or twice.
    private func expectedRecords(
        _ perAppender: [[(lsn: LSN, nanos: UInt64)]], base: LSN, workload: DemoWorkload
    ) throws -> (slots: [(appender: Int32, index: Int32)], bytes: Int, latencies: [UInt64]) {
        let total = perAppender.reduce(0) { $0 + $1.count }
        var expected = [(appender: Int32, index: Int32)](repeating: (-1, -1), count: total)
        var bytes = 0
        var latencies: [UInt64] = []
        latencies.reserveCapacity(total)
        for (a, results) in perAppender.enumerated() {
            for (i, r) in results.enumerated() {
                let slot = Int(r.lsn) - Int(base)
                guard slot >= 0, slot < total, expected[slot].appender < 0 else {
                    throw CLIError(.corruption, "demo: append returned LSN \(r.lsn), outside \(base)..<\(base + LSN(total)) or twice")
                }
                expected[slot] = (Int32(a), Int32(i))
                bytes += workload.size(appender: a, index: i)
                latencies.append(r.nanos)
            }
        }
        latencies.sort()
        return (expected, bytes, latencies)
    }

    /// Replays the new records and compares each with what was appended.
    private func replayCheck(
        _ reader: Journal, base: LSN, expected: [(appender: Int32, index: Int32)], workload: DemoWorkload
    ) throws -> (matched: Int, firstMismatch: String?) {
        var matched = 0
        var firstMismatch: String?
        do {
            try reader.forEachRecord(from: base) { lsn, payload in
                let slot = Int(lsn - base)
                guard slot < expected.count else { return false }
                let (a, i) = (Int(expected[slot].appender), Int(expected[slot].index))
                if workload.matches(payload, appender: a, index: i) {
                    matched += 1
                } else if firstMismatch == nil {
                    firstMismatch = "LSN \(lsn) (appender \(a), record \(i)) differs from what was appended"
                }
                return true
            }
        } catch {
            throw CLIError.from(error) ?? CLIError(.ioError, "\(error)")
        }
        return (matched, firstMismatch)
    }

    private func percentile(_ sorted: [UInt64], _ p: Double) -> String {
        guard !sorted.isEmpty else { return "-" }
        let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
        return formatMicros(sorted[max(0, index)])
    }

    private func formatMicros(_ nanos: UInt64) -> String {
        nanos >= 1_000_000 ? "\(formatDecimal(Double(nanos) / 1e6, places: 2)) ms" : "\(formatDecimal(Double(nanos) / 1e3, places: 0)) µs"
    }
}

/// The demo's records: sizes and bytes derived from (seed, appender,
/// index), so the check regenerates them instead of keeping them.
struct DemoWorkload: Sendable {
    let seed: UInt64
    let recordBytesMax: Int

    private func mix(_ a: Int, _ i: Int) -> UInt64 {
        var x = seed &+ UInt64(a) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) &* 0xD1B5_4A32_D192_ED03
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 31)
    }

    /// Mostly small records, some medium, a few that span fragment pages.
    func size(appender a: Int, index i: Int) -> Int {
        let r = mix(a, i)
        let bucket = r % 100
        let spread = Int(r >> 32)
        let bytes: Int
        if bucket < 75 {
            bytes = 64 + spread % 449
        } else if bucket < 98 {
            bytes = 512 + spread % (8 << 10)
        } else {
            bytes = 8 << 10 + spread % (56 << 10)
        }
        return min(bytes, recordBytesMax)
    }

    func payload(appender a: Int, index i: Int) -> [UInt8] {
        let n = size(appender: a, index: i)
        var out = [UInt8](repeating: 0, count: n)
        var state = mix(a, i) | 1
        for k in 0..<n {
            if k % 8 == 0 {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
            }
            out[k] = UInt8(truncatingIfNeeded: state >> (8 * UInt64(k % 8)))
        }
        return out
    }

    func matches(_ bytes: UnsafeRawBufferPointer, appender a: Int, index i: Int) -> Bool {
        let expected = payload(appender: a, index: i)
        guard expected.count == bytes.count else { return false }
        return expected.withUnsafeBytes { $0.elementsEqual(bytes) }
    }
}
