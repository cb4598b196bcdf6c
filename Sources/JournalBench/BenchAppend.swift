public import ArgumentParser
import Foundation
import Journal
import JournalCLISupport
import JournalFileStorage
import JournalStorage
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift bench append`: the journal's durable appends beside fio
/// on the same file system, interleaved round by round.
public struct BenchAppend: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Measure durable appends beside fio (io_uring, direct, dsync), interleaved.",
        discussion: """
            Cells: commits/s and p50/p99 latency for 1, 4, 16 and 64 appenders of 128 B records \
            (beside fio 4 KiB writes); the same for 64 appenders that each keep 16 appends \
            outstanding (append-128B-64-pipelined: enqueue, then waitUntilDurable of the oldest); and MB/s for 4 KiB, 64 KiB and 1 MiB records (beside fio \
            at the same block size); fio runs at queue depth 1 and 4. Each cell gets a fresh journal \
            in a temporary directory under --dir, and runs alternating rounds (ours, fio QD1, fio QD4, the peers, \
            ours, ...). Medians and min-max are reported; ratios come from medians.

            fio runs as: fio --rw=write --bs=<bs> --iodepth=<1|4> --ioengine=io_uring --direct=1 \
            --sync=dsync --time_based --runtime=<seconds> --ramp_time=<warm-up> --size=<file> --lat_percentiles=1 \
            --output-format=json, over a file written once with zeros (like the journal's segments). \
            --verbose prints the exact command lines. fio is required (Debian: apt-get install fio).
            """)

    @Option(name: .long, help: "Directory for the temporary journals and fio files (a file system to measure; /dev/shm works).")
    var dir: String = "./data/bench"

    @Option(name: .long, help: "Measured seconds per round, for ours and for each fio run.")
    var seconds: Double = 3

    @Option(name: .long, help: "Warm-up seconds before each measured round (ours and fio's ramp time).")
    var warmup: Double = 0.5

    @Option(name: .long, help: "Rounds per cell (at least 3; --quick makes it 1).")
    var rounds: Int = 3

    @Flag(name: .long, help: "One round of one second per cell: a smoke test, not a measurement.")
    var quick = false

    @Flag(name: .long, help: "One JSON object per line per cell.")
    var json = false

    @Flag(name: .long, help: "Print per-round figures and the exact fio command lines (to stderr with --json).")
    var verbose = false

    @Option(name: .customLong("cell"), help: "Run only the named cells (repeatable), e.g. append-128B-64.")
    var cells: [String] = []

    @Option(name: .long, help: "Appender API: blocking (appendBlocking on threads) or async (append on tasks).")
    var api: String = AppendAPI.blocking.rawValue

    @Option(name: .long, help: "Rounds for the MB/s cells (default: --rounds). Their ratio rests on the disk's bandwidth, which swings most from round to round.")
    var bulkRounds: Int?

    @Option(name: .long, help: "Appenders in the MB/s cells (1-64).")
    var bulkAppenders: Int = 4

    @Option(name: .long, help: "The journal's inFlightBatchesMax.")
    var inFlight: Int = JournalOptions().inFlightBatchesMax

    @Flag(inversion: .prefixedNo, help: "The journal's inlineWrites: an appender that finds the journal idle writes its batch itself (--no-inline-writes: every batch through the I/O thread).")
    var inlineWrites = JournalOptions().inlineWrites

    @Flag(name: .long, help: "The journal's inlineWritesFromTasks: inline writes for the async API too (--api async).")
    var inlineFromTasks = JournalOptions().inlineWritesFromTasks

    @Option(name: .long, help: "The journal's inlineWritesFromTasksMicrosecondsMax: tasks write inline while the recent writes took at most this long (--api async); 0: never.")
    var inlineFromTasksMaxUs = JournalOptions().inlineWritesFromTasksMicrosecondsMax

    @Flag(inversion: .prefixedNo, help: "The journal's hugePageBatches: batch buffers advised for transparent huge pages, so that a large batch goes to the disk as one request (--no-huge-page-batches: 4 KiB pages).")
    var hugePageBatches = JournalOptions().hugePageBatches

    @Option(name: .customLong("batch-kib"), help: "The journal's batchBytesMax, KiB.")
    var batchKiB: Int = JournalOptions().batchBytesMax >> 10

    @Option(name: .customLong("segment-mib"), help: "The journal's segmentBytes, MiB.")
    var segmentMiB: Int = JournalConfiguration().segmentBytes >> 20

    @Option(name: .long, help: "The journal's spareSegments: segments kept ready ahead of the writer.")
    var spareSegments: Int = JournalOptions().spareSegments

    @Option(name: .long, help: "The journal's recycledSegmentsMax: released segments kept for reuse rather than deleted.")
    var recycledSegments: Int = JournalOptions().recycledSegmentsMax

    @Flag(inversion: .prefixedNo, help: "Truncate the journal behind its durable LSN every 20 ms, so that segments are recycled (a log that checkpoints) rather than zero-filled anew.")
    var truncate = true

    @Option(name: .long, help: "Before the rounds, append unmeasured until the journal has rolled over this many segments (steady state: recycled, not zero-filled, segments), for at most --prime-seconds. 0: measure a fresh journal.")
    var primeRollovers: Int = 3

    @Option(name: .long, help: "Longest priming per cell, seconds.")
    var primeSeconds: Double = 8

    @Option(name: .long, help: "The fio executable.")
    var fio: String = "fio"

    @Flag(inversion: .prefixedNo, help: "Run fio with GLIBC_TUNABLES=glibc.malloc.hugetlb=1, so that its buffers are huge pages as the journal's batches are; from 4 KiB pages fio's 1 MiB bandwidth swings with their physical layout (--no-fio-huge-pages: plain malloc).")
    var fioHugePages = true

    @Option(name: .long, help: "How the journal's writes reach the disk: auto, io-uring or threads (JournalIOBackend). Tools/bench/backends.sh runs both, interleaved.")
    var ioBackend: String = "auto"

    @Option(name: .long, help: "Peers beside fio, comma-separated: pwrite (a hand-written pwrite + fdatasync group commit, every cell), sqlite (SQLite WAL synchronous=FULL and NORMAL, 128 B cells), blocking (with --api async: the same journal through appendBlocking on threads, right after ours in each round, 128 B cells), or none.")
    var peers: String = "pwrite,sqlite"

    public init() {}

    public func validate() throws {
        guard JournalIOBackend(rawValue: ioBackend) != nil else { throw ValidationError("--io-backend must be auto, io-uring or threads") }
        guard AppendAPI(rawValue: api) != nil else { throw ValidationError("--api must be blocking or async") }
        guard seconds > 0, warmup >= 0 else { throw ValidationError("--seconds must be positive and --warmup not negative") }
        if !quick && rounds < 3 { throw ValidationError("--rounds must be at least 3 (the disk is noisy: only interleaved medians mean anything); use --quick for a smoke test") }
        if !quick, let bulkRounds, bulkRounds < 3 { throw ValidationError("--bulk-rounds must be at least 3") }
        guard (1...64).contains(bulkAppenders) else { throw ValidationError("--bulk-appenders must be in 1...64") }
        let known = Set(AppendCell.all(bulkAppenders: bulkAppenders).map(\.name))
        for p in peerList where !["pwrite", "sqlite", "blocking"].contains(p) {
            throw ValidationError("unknown peer \(p); peers: pwrite, sqlite, blocking, none")
        }
        if peerList.contains("blocking") && api != AppendAPI.async.rawValue {
            throw ValidationError("the blocking peer compares the async API with the blocking one: it needs --api async")
        }
        for c in cells where !known.contains(c) {
            throw ValidationError("unknown cell \(c); cells: \(AppendCell.all(bulkAppenders: bulkAppenders).map(\.name).joined(separator: ", "))")
        }
    }

    var peerList: [String] {
        peers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && $0 != "none" }
    }

    public func run() throws {
        guard let fioPath = FioRunner.locate(fio) else {
            printError("""
                error: fio not found (looked for '\(fio)' on PATH). `bench append` measures the journal beside fio \
                and does not run without it. Install it: `sudo apt-get install -y fio` (Debian/Ubuntu), \
                `sudo dnf install fio` (Fedora), or pass --fio <path>.
                """)
            throw ExitCode(69)  // EX_UNAVAILABLE
        }
        let runner = FioRunner(executable: fioPath, hugePageBuffers: fioHugePages)
        let api = AppendAPI(rawValue: self.api) ?? .blocking
        let seconds = quick ? 1 : self.seconds
        let rounds = quick ? 1 : self.rounds
        let warmup = quick ? min(self.warmup, 0.25) : self.warmup

        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw BenchError("cannot create \(dir): \(error)")
        }
        let fileSystem = fileSystemType(dir)
        var selected = AppendCell.all(bulkAppenders: bulkAppenders)
        if !cells.isEmpty { selected = selected.filter { cells.contains($0.name) } }

        if !json {
            printOut("bench append: \(dir) (\(fileSystem)), api \(api.rawValue), I/O backend \(ioBackend), \(rounds) round(s)\(quick || bulkRounds == nil ? "" : " (MB/s cells \(bulkRounds ?? rounds))") x \(formatNumber(seconds)) s after \(formatNumber(warmup)) s warm-up, in flight \(inFlight), inline writes \(inlineWrites ? (inlineFromTasks ? "on (tasks too)" : "on") : "off"), huge-page batches \(hugePageBatches ? "on" : "off"), batch \(batchKiB) KiB, segment \(segmentMiB) MiB, spares \(spareSegments), recycled \(recycledSegments), truncate \(truncate ? "on" : "off"), priming \(primeRollovers) rollover(s) / \(formatNumber(primeSeconds)) s max")
            printOut("fio: \(fioPath) (io_uring, direct, dsync, sequential writes over a zero-filled file\(fioHugePages ? ", buffers in huge pages" : "")); peers: \(peerList.isEmpty ? "none" : peerList.joined(separator: ", "))")
        }
        var results: [AppendCellResult] = []
        for cell in selected {
            let cellRounds = quick || cell.metric != .megabytesPerSecond ? rounds : (bulkRounds ?? rounds)
            let result = try runCell(cell, runner: runner, api: api, seconds: seconds, warmup: warmup, rounds: cellRounds)
            results.append(result)
            if json {
                FileHandle.standardOutput.write(Data((jsonLine(result.jsonFields(api: api, fileSystem: fileSystem, seconds: seconds)) + "\n").utf8))
            }
        }
        if !json {
            print("")
            print(renderTable(results))
            print("")
            print("Ratios are medians over medians of rounds run alternately on the same file system; 'paired' ratios in --json are per round.")
        }
    }

    private func log(_ text: String) {
        guard verbose else { return }
        // Unbuffered, so that progress shows while a long run goes on.
        (json ? FileHandle.standardError : FileHandle.standardOutput).write(Data((text + "\n").utf8))
    }

    private func runCell(_ cell: AppendCell, runner: FioRunner, api: AppendAPI, seconds: Double, warmup: Double, rounds: Int) throws -> AppendCellResult {
        let temp = try makeTemporaryDirectory(under: dir, prefix: "append")
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let journal = try openFreshJournal(in: temp)
        defer { journal.close() }
        let harness = AppendHarness(
            journal: journal, appenders: cell.appenders, recordBytes: cell.recordBytes, window: cell.window, api: api,
            warmupSeconds: warmup, seconds: seconds, truncateBehind: truncate)

        // fio: a file written once with zeros beside the journal.
        let fioFile = temp + "/fio.dat"
        try FioRunner.prepareFile(fioFile, bytes: cell.fioFileBytes)
        let qd1 = runner.arguments(file: fioFile, fileBytes: cell.fioFileBytes, blockBytes: cell.fioBlockBytes, queueDepth: 1, seconds: seconds, warmupSeconds: warmup)
        let qd4 = runner.arguments(file: fioFile, fileBytes: cell.fioFileBytes, blockBytes: cell.fioBlockBytes, queueDepth: 4, seconds: seconds, warmupSeconds: warmup)

        // The peers: same appenders, same record, same directory. They wait
        // for each append, so they run beside the cells that do (not beside
        // the pipelined one, where fio's figures are the reference).
        let peerRecord = PseudoRandomBytes(count: cell.recordBytes, seed: 0x9E37_79B9_7F4A_7C15)
        let loop = ClosedLoop(threads: cell.appenders, recordBytes: cell.recordBytes, warmupSeconds: warmup, seconds: seconds)
        let groupCommit = peerList.contains("pwrite") && cell.window == 1
            ? try GroupCommitLog(path: temp + "/pwrite.log", fileBytes: max(cell.fioFileBytes, 2 * cell.appenders * (cell.recordBytes + 4)), appenders: cell.appenders, recordBytesMax: cell.recordBytes)
            : nil
        let sqliteCell = peerList.contains("sqlite") && cell.metric == .commitsPerSecond && cell.window == 1
        let sqliteFull = sqliteCell ? try SQLiteLog(path: temp + "/full.db", synchronous: .full, connections: cell.appenders) : nil
        let sqliteNormal = sqliteCell ? try SQLiteLog(path: temp + "/normal.db", synchronous: .normal, connections: cell.appenders) : nil
        // The blocking API on the same journal: what the async API adds.
        let blocking = peerList.contains("blocking") && api == .async && cell.metric == .commitsPerSecond && cell.window == 1
            ? AppendHarness(
                journal: journal, appenders: cell.appenders, recordBytes: cell.recordBytes, window: 1, api: .blocking,
                warmupSeconds: warmup, seconds: seconds, truncateBehind: truncate)
            : nil

        var result = AppendCellResult(cell: cell)
        result.fioCommandLines = [runner.commandLine(qd1), runner.commandLine(qd4)]
        log("\(cell.name): \(cell.appenders) appender(s) of \(cell.recordBytes) B records\(cell.window > 1 ? ", \(cell.window) outstanding each (enqueue + waitUntilDurable)" : ""), journal in \(temp)/journal")
        if let memory = journal.batchMemory {
            log("  batch buffers: \(memory.bytes >> 20) MiB, \(memory.hugePageBytes.map { "\($0 >> 20) MiB in huge pages" } ?? "huge pages unknown")")
        }
        log("  fio QD1: \(result.fioCommandLines[0])")
        log("  fio QD4: \(result.fioCommandLines[1])")
        if primeRollovers > 0 {
            let primed = try harness.prime(rollovers: primeRollovers, maxSeconds: quick ? min(primeSeconds, 2) : primeSeconds)
            log("  primed: \(primed.rollovers) segment rollover(s) in \(formatNumber(primed.seconds)) s")
        }
        for round in 1...rounds {
            try runRound(round, harness: harness, runner: runner, fio: (qd1, qd4), peers: (blocking, groupCommit, sqliteFull, sqliteNormal),
                         loop: loop, record: peerRecord, into: &result)
        }
        return result
    }

    /// One round of a cell: ours (and the blocking API right after it),
    /// then fio at QD1 and QD4, then each peer, so that every side meets
    /// the disk in the same minute.
    private func runRound(
        _ round: Int, harness: AppendHarness, runner: FioRunner, fio: (qd1: [String], qd4: [String]),
        peers: (blocking: AppendHarness?, groupCommit: GroupCommitLog?, sqliteFull: SQLiteLog?, sqliteNormal: SQLiteLog?),
        loop: ClosedLoop, record: PseudoRandomBytes, into result: inout AppendCellResult
    ) throws {
        let before = harness.journal.segmentPreparation
        let ours = try harness.runRound()
        let after = harness.journal.segmentPreparation
        result.ours.append(ours)
        log("  round \(round) ours:    \(formatNumber(result.oursValue(ours))) \(result.cell.metric.rawValue), \(ours.latency.microsecondsText), p99.9 \(formatNumber(Double(ours.latency.p999) / 1000)) us, \(ours.operations) appends\(ours.untimed > 0 ? " (\(ours.untimed) untimed)" : ""), segments \(after.reused - before.reused) reused, \(after.zeroFilled - before.zeroFilled) zero-filled, \(after.deleted - before.deleted) deleted")
        if let blocking = peers.blocking {
            let r = try blocking.runRound()
            result.blocking.append(r)
            log("  round \(round) blocking API: \(peerLine(result, r))")
        }
        let f1 = try runner.run(fio.qd1)
        result.fioQD1.append(f1)
        log("  round \(round) fio QD1: \(formatNumber(result.fioValue(f1))), \(f1.latency.microsecondsText)")
        let f4 = try runner.run(fio.qd4)
        result.fioQD4.append(f4)
        log("  round \(round) fio QD4: \(formatNumber(result.fioValue(f4))), \(f4.latency.microsecondsText)")
        if let groupCommit = peers.groupCommit {
            let r = try loop.run { _ in try groupCommit.append(record.bytes) }
            result.pwrite.append(r)
            log("  round \(round) pwrite:  \(peerLine(result, r))")
        }
        if let sqliteFull = peers.sqliteFull {
            let r = try loop.run { worker in try sqliteFull.append(worker, record.bytes) }
            result.sqliteFull.append(r)
            log("  round \(round) SQLite FULL:   \(peerLine(result, r))")
        }
        if let sqliteNormal = peers.sqliteNormal {
            let r = try loop.run { worker in try sqliteNormal.append(worker, record.bytes) }
            result.sqliteNormal.append(r)
            log("  round \(round) SQLite NORMAL: \(peerLine(result, r))")
        }
    }

    /// Creates and opens a journal in `temp` with the options of this run.
    private func openFreshJournal(in temp: String) throws -> Journal {
        var storageOptions = FileSystemStorage.Options()
        storageOptions.createDirectory = true
        storageOptions.ioBackend = JournalIOBackend(rawValue: ioBackend) ?? .automatic
        let storage: FileSystemStorage
        do { storage = try FileSystemStorage(path: temp + "/journal", options: storageOptions) } catch {
            throw BenchError("cannot open \(temp)/journal: \(error)")
        }
        var configuration = JournalConfiguration()
        configuration.segmentBytes = segmentMiB << 20
        do { try Journal.create(storage: storage, configuration: configuration) } catch { throw BenchError("Journal.create: \(error)") }
        var options = JournalOptions.bench(logLabel: "bench-append")
        options.inFlightBatchesMax = inFlight
        options.batchBytesMax = batchKiB << 10
        options.spareSegments = spareSegments
        options.recycledSegmentsMax = recycledSegments
        options.inlineWrites = inlineWrites
        options.inlineWritesFromTasks = inlineFromTasks
        options.inlineWritesFromTasksMicrosecondsMax = inlineFromTasksMaxUs
        options.hugePageBatches = hugePageBatches
        do { return try Journal.open(storage: storage, options: options) } catch { throw BenchError("Journal.open: \(error)") }
    }
}

private func peerLine(_ result: AppendCellResult, _ r: AppendRound) -> String {
    "\(formatNumber(result.oursValue(r))), \(r.latency.microsecondsText)"
}

private func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

private func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

