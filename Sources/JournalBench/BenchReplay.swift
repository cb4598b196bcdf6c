import JournalPrimitives
import ArgumentParser
import Foundation
import Journal
import JournalCLISupport
import JournalFileStorage
import JournalStorage
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift bench replay`: reading a journal back, beside fio's
/// sequential direct reads of the same segment files, interleaved.
///
/// The journal is written once (not timed). Each round, both sides start
/// with none of the files in the page cache (evicted with
/// `posix_fadvise(DONTNEED)` and checked with `mincore`). Ours is measured
/// three ways in one round:
/// - open: `Journal.openForReading`, whose recovery scans and verifies every
///   record (cold);
/// - iterate: `forEachRecord` over every record, checksums verified, after
///   the journal's mappings were evicted again (cold) — the target;
/// - restart: open (cold) then iterate (warm), what a process that restarts
///   and replays its log waits for.
/// Ours reads through read-only `mmap` mappings (page faults, kernel
/// readahead); fio reads with `O_DIRECT` through io_uring. GB/s are log
/// bytes (segment headers and framing included) per second.
struct BenchReplay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Read a journal back (cold) beside fio sequential direct reads of the same files, interleaved.")

    @Option(help: "Directory for the journal (the file system measured).")
    var dir = "./data/bench-replay"

    @Option(help: "Journal size to write, MiB.")
    var mib = 1024

    @Option(help: "Record payload bytes.")
    var recordBytes = 4096

    @Option(help: "Rounds (at least 3; --quick makes it 1).")
    var rounds = 3

    @Option(help: "fio's block size, bytes.")
    var fioBs = 1 << 20

    @Option(help: "fio's queue depths, comma-separated; each runs every round, and ours is judged against the best. Depth 8 of 1 MiB reads keeps 8 MiB in flight, as the kernel's readahead of the mapping may (read_ahead_kb).")
    var fioIodepths = "1,8"

    @Option(help: "The fio executable.")
    var fio = "fio"

    @Flag(help: "A 128 MiB journal and one round: a smoke test, not a measurement.")
    var quick = false

    @Flag(help: "One JSON object per line.")
    var json = false

    @Flag(help: "Per-round figures and the fio command line (to stderr with --json).")
    var verbose = false

    func validate() throws {
        guard mib >= 16 else { throw ValidationError("--mib must be at least 16") }
        guard recordBytes >= 1 && recordBytes <= 1 << 20 else { throw ValidationError("--record-bytes must be in 1...1048576") }
        if !quick && rounds < 3 { throw ValidationError("--rounds must be at least 3; use --quick for a smoke test") }
        guard fioBs >= 4096 && fioBs % 4096 == 0 else { throw ValidationError("--fio-bs must be a multiple of 4096") }
        guard !depths.isEmpty, depths.allSatisfy({ (1...64).contains($0) }) else { throw ValidationError("--fio-iodepths: depths in 1...64, comma-separated") }
    }

    var depths: [Int] { fioIodepths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() throws {
        guard let fioPath = FioRunner.locate(fio) else {
            FileHandle.standardError.write(Data("error: fio not found (looked for '\(fio)' on PATH); install it (apt-get install -y fio) or pass --fio <path>\n".utf8))
            throw ExitCode(69)
        }
        let rounds = quick ? 1 : self.rounds
        let journalBytes = (quick ? min(mib, 128) : mib) << 20
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw BenchError("cannot create \(dir): \(error)")
        }
        let temp = try makeTemporaryDirectory(under: dir, prefix: "replay")
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let path = temp + "/journal"

        let written = try writeJournal(path: path, bytes: journalBytes)
        progress("replay: wrote \(written.records) records of \(recordBytes) B (\(formatNumber(Double(written.logBytes) / 1e9)) GB of log) in \(formatNumber(written.seconds)) s")
        let files = written.segmentNames.map { path + "/" + $0 }
        let runner = FioRunner(executable: fioPath)
        let fioArguments = depths.map { depth in [
            "--name=journal-replay-peer", "--filename=" + files.joined(separator: ":"),
            "--file_service_type=sequential", "--rw=read", "--bs=\(fioBs)", "--iodepth=\(depth)",
            "--ioengine=io_uring", "--direct=1", "--output-format=json",
        ] }
        for arguments in fioArguments { progress("replay: fio: \(runner.commandLine(arguments))") }

        var ours: [ReplayRound] = []
        var theirs = [[FioRound]](repeating: [], count: depths.count)
        for round in 1...rounds {
            // Alternate which side goes first.
            for side in round % 2 == 1 ? [0, 1] : [1, 0] {
                try evict(files)
                let resident = residentFraction(files)
                if side == 0 {
                    let r = try replayRound(path: path, expectedRecords: written.records, logBytes: written.logBytes, files: files, residentBefore: resident)
                    ours.append(r)
                    progress("  round \(round) ours: iterate \(formatNumber(r.iterateGBps)) GB/s (cold, \(formatPercent(r.residentBeforeIterate)) resident), open \(formatNumber(r.openGBps)) GB/s, restart \(formatNumber(r.restartGBps)) GB/s (\(formatPercent(resident)) resident before)")
                } else {
                    for (d, arguments) in fioArguments.enumerated() {
                        if d > 0 { try evict(files) }
                        let f = try runner.run(arguments, direction: "read")
                        theirs[d].append(f)
                        progress("  round \(round) fio QD\(depths[d]):  \(formatNumber(f.bytesPerSecond / 1e9)) GB/s (\(formatPercent(resident)) resident before)")
                    }
                }
            }
        }
        let result = ReplayResult(
            recordBytes: recordBytes, records: written.records, logBytes: written.logBytes,
            fileSystem: fileSystemType(dir), ours: ours, fio: theirs, fioBlockBytes: fioBs, fioQueueDepths: depths)
        if json {
            print(jsonLine(result.jsonFields))
        } else {
            print(result.text)
        }
    }

    private func progress(_ text: String) {
        if json {
            if verbose { FileHandle.standardError.write(Data((text + "\n").utf8)) }
        } else {
            print(text)
        }
    }

    /// Writes `bytes` of log (not timed as a result), then closes the journal.
    private func writeJournal(path: String, bytes: Int) throws -> (records: Int, logBytes: Int, segmentNames: [String], seconds: Double) {
        let storage = try createBenchJournal(path: path)
        let start = monotonicNanos()
        let journal = try Journal.open(storage: storage, options: .bench(logLabel: "bench-replay"))
        // Records differ from one another: slices of a pseudo-random pool.
        let pool = PseudoRandomBytes(count: recordBytes + 4096, seed: 0x2545_F491_4F6C_DD1D)
        var records = 0
        var payloadBytes = 0
        var last: LSN = 0
        while payloadBytes < bytes {
            let shift = (records &* 61) % 4096
            last = try journal.enqueue(pool.slice(from: shift, count: recordBytes))
            records += 1
            payloadBytes += recordBytes
        }
        try journal.waitUntilDurableBlocking(last)
        journal.close()
        let seconds = Double(monotonicNanos() - start) / 1e9

        let reader = try Journal.openForReading(storage: storage)
        defer { reader.close() }
        let report = reader.recoveryReport
        guard report.recordCount == records else {
            throw BenchError("replay: wrote \(records) records, recovery found \(report.recordCount)")
        }
        let logBytes = (report.segmentCount - 1) * reader.configuration.segmentBytes + report.endOffset
        return (records, logBytes, reader.segmentSummaries.map(\.name), seconds)
    }

    private func replayRound(path: String, expectedRecords: Int, logBytes: Int, files: [String], residentBefore: Double) throws -> ReplayRound {
        let storage = try FileSystemStorage(path: path)
        let t0 = monotonicNanos()
        let journal = try Journal.openForReading(storage: storage)
        defer { journal.close() }
        let t1 = monotonicNanos()
        let warm = try iterate(journal)
        let t2 = monotonicNanos()
        // Cold again: drop the journal's mapped pages, then the cache.
        let mapped = journalMappings(files)
        evictMappings(mapped)
        try evict(files)
        let residentBeforeIterate = residentFraction(mapped)
        let t3 = monotonicNanos()
        let cold = try iterate(journal)
        let t4 = monotonicNanos()
        guard warm == expectedRecords && cold == expectedRecords else {
            throw BenchError("replay: read \(warm) and \(cold) records, expected \(expectedRecords)")
        }
        func gbps(_ nanos: UInt64) -> Double { nanos > 0 ? Double(logBytes) / Double(nanos) : .nan }
        return ReplayRound(openGBps: gbps(t1 - t0), restartGBps: gbps(t2 - t0), iterateGBps: gbps(t4 - t3),
                           warmIterateGBps: gbps(t2 - t1), residentBefore: residentBefore, residentBeforeIterate: residentBeforeIterate)
    }

    /// Every record, checksums verified by the reader; returns the count.
    private func iterate(_ journal: Journal) throws -> Int {
        var count = 0
        var sink: UInt8 = 0
        try journal.forEachRecord(from: journal.oldestLSN) { _, payload in
            count += 1
            if let last = payload.last { sink ^= last }
            return true
        }
        withExtendedLifetime(sink) {}
        return count
    }
}

/// One round of ours, GB/s of log.
struct ReplayRound: Sendable {
    var openGBps: Double
    var restartGBps: Double
    var iterateGBps: Double
    var warmIterateGBps: Double
    /// Fraction of the files' pages in the page cache before the cold open
    /// and before the cold iteration (0 when eviction worked).
    var residentBefore: Double
    var residentBeforeIterate: Double
}

struct ReplayResult: Sendable {
    var recordBytes: Int
    var records: Int
    var logBytes: Int
    var fileSystem: String
    var ours: [ReplayRound]
    /// fio's rounds at each queue depth of `fioQueueDepths`.
    var fio: [[FioRound]]
    var fioBlockBytes: Int
    var fioQueueDepths: [Int]

    var iterate: Summary { Summary(ours.map(\.iterateGBps)) }
    var open: Summary { Summary(ours.map(\.openGBps)) }
    var restart: Summary { Summary(ours.map(\.restartGBps)) }
    func fioGBps(_ d: Int) -> Summary { Summary(fio[d].map { $0.bytesPerSecond / 1e9 }) }
    /// The queue depth with fio's best median.
    var bestDepth: Int { fio.indices.max { fioGBps($0).median < fioGBps($1).median } ?? 0 }
    var fioGBps: Summary { fio.isEmpty ? Summary([]) : fioGBps(bestDepth) }
    var ratio: Double { JournalBench.ratio(iterate.median, fioGBps.median) }

    var jsonFields: [(String, JSONValue)] {
        let i = iterate, o = open, r = restart, f = fioGBps
        return [
            ("bench", .string("replay")), ("record_bytes", .integer(recordBytes)), ("records", .integer(records)),
            ("log_bytes", .integer(logBytes)), ("file_system", .string(fileSystem)), ("rounds", .integer(ours.count)),
            ("iterate_gbps", .number(i.median)), ("iterate_gbps_min", .number(i.min)), ("iterate_gbps_max", .number(i.max)),
            ("open_gbps", .number(o.median)), ("open_gbps_min", .number(o.min)), ("open_gbps_max", .number(o.max)),
            ("restart_gbps", .number(r.median)), ("restart_gbps_min", .number(r.min)), ("restart_gbps_max", .number(r.max)),
            ("warm_iterate_gbps", .number(Summary(ours.map(\.warmIterateGBps)).median)),
            ("fio_gbps", .number(f.median)), ("fio_gbps_min", .number(f.min)), ("fio_gbps_max", .number(f.max)),
            ("fio_bs", .integer(fioBlockBytes)), ("fio_iodepth", .integer(fioQueueDepths.isEmpty ? 0 : fioQueueDepths[bestDepth])),
            ("fio_iodepths", .string(fioQueueDepths.map(String.init).joined(separator: ","))),
            ("ratio", .number(ratio)), ("ratio_open", .number(JournalBench.ratio(o.median, f.median))),
            ("ratio_restart", .number(JournalBench.ratio(r.median, f.median))),
            ("resident_before_max", .number((ours.map { max($0.residentBefore, $0.residentBeforeIterate) }.max() ?? 0))),
        ] + fioQueueDepths.indices.flatMap { d -> [(String, JSONValue)] in
            let s = fioGBps(d)
            let depth = fioQueueDepths[d]
            return [("fio_qd\(depth)_gbps", .number(s.median)), ("fio_qd\(depth)_gbps_min", .number(s.min)), ("fio_qd\(depth)_gbps_max", .number(s.max))]
        }
    }

    var text: String {
        let i = iterate, o = open, r = restart
        return """
            replay of \(records) records of \(recordBytes) B (\(formatNumber(Double(logBytes) / 1e9)) GB of log, \(fileSystem)), \(ours.count) round(s), cold cache:
              iterate (forEachRecord, checksums)  \(formatNumber(i.median)) GB/s [\(formatNumber(i.min))-\(formatNumber(i.max))]
              open (recovery scan)                \(formatNumber(o.median)) GB/s [\(formatNumber(o.min))-\(formatNumber(o.max))]
              restart (open cold + iterate)       \(formatNumber(r.median)) GB/s [\(formatNumber(r.min))-\(formatNumber(r.max))]
            \(fioQueueDepths.indices.map { d in
                let s = fioGBps(d)
                return "  fio read direct bs=\(formatSize(fioBlockBytes)) QD\(fioQueueDepths[d])".padding(toLength: 38, withPad: " ", startingAt: 0)
                    + "\(formatNumber(s.median)) GB/s [\(formatNumber(s.min))-\(formatNumber(s.max))]"
            }.joined(separator: "\n"))
              iterate / best fio = \(formatNumber(ratio)) (target >= 0.8: \(ratio >= 0.8 ? "met" : "missed"))
            """
    }
}

// MARK: Page cache

/// Drops the files' clean pages from the page cache (pages mapped by a
/// process stay; see `evictMappings`).
private func evict(_ files: [String]) throws {
    for file in files {
        let fd = open(file, O_RDONLY)
        if fd < 0 { throw BenchError("cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let rc = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        if rc != 0 { throw BenchError("posix_fadvise(\(file)): \(String(cString: strerror(rc)))") }
    }
}

/// The fraction of the files' pages in the page cache.
private func residentFraction(_ files: [String]) -> Double {
    var resident = 0
    var total = 0
    for file in files {
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else { continue }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0 else { continue }
        let size = Int(st.st_size)
        guard let base = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else { continue }
        defer { munmap(base, size) }
        let counted = countResident(base, size)
        resident += counted.resident
        total += counted.total
    }
    return total > 0 ? Double(resident) / Double(total) : 0
}

private func residentFraction(_ ranges: [(base: UnsafeMutableRawPointer, bytes: Int)]) -> Double {
    var resident = 0
    var total = 0
    for r in ranges {
        let counted = countResident(r.base, r.bytes)
        resident += counted.resident
        total += counted.total
    }
    return total > 0 ? Double(resident) / Double(total) : 0
}

private func countResident(_ base: UnsafeMutableRawPointer, _ bytes: Int) -> (resident: Int, total: Int) {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let pages = (bytes + page - 1) / page
    var vector = [UInt8](repeating: 0, count: pages)
    guard mincore(base, bytes, &vector) == 0 else { return (0, 0) }
    return (vector.reduce(0) { $0 + Int($1 & 1) }, pages)
}

/// This process's mappings of `files` (the journal's read-only segment
/// mappings), from /proc/self/maps.
private func journalMappings(_ files: [String]) -> [(base: UnsafeMutableRawPointer, bytes: Int)] {
    guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return [] }
    let wanted = Set(files.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().standardizedFileURL.path })
    var out: [(UnsafeMutableRawPointer, Int)] = []
    for line in maps.split(separator: "\n") {
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count == 6, wanted.contains(fields[5].trimmingCharacters(in: .whitespaces)) else { continue }
        let range = fields[0].split(separator: "-")
        guard range.count == 2, let lo = UInt(range[0], radix: 16), let hi = UInt(range[1], radix: 16), hi > lo,
              let base = UnsafeMutableRawPointer(bitPattern: lo)
        else { continue }
        out.append((base, Int(hi - lo)))
    }
    return out
}

/// Unmaps the pages of read-only file mappings from this process (their
/// contents come back from the file on the next access), so that the page
/// cache can drop them.
private func evictMappings(_ ranges: [(base: UnsafeMutableRawPointer, bytes: Int)]) {
    for r in ranges { _ = madvise(r.base, r.bytes, MADV_DONTNEED) }
}

// MARK: Helpers

func formatPercent(_ fraction: Double) -> String {
    String(format: "%.1f%%", fraction * 100)
}

/// The file system type of `path`: that of the longest mount point in
/// /proc/self/mounts that contains it.
func fileSystemType(_ path: String) -> String {
    guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return "unknown" }
    let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
    var best: (point: String, type: String)?
    for line in mounts.split(separator: "\n") {
        let f = line.split(separator: " ")
        guard f.count >= 3 else { continue }
        let point = String(f[1]).replacingOccurrences(of: "\\040", with: " ")
        let inside = point == "/" || resolved == point || resolved.hasPrefix(point + "/")
        if inside && point.count >= (best?.point.count ?? -1) { best = (point, String(f[2])) }
    }
    return best?.type ?? "unknown"
}
