import JournalPrimitives
import ArgumentParser
import CSQLite
import Journal
import JournalCLISupport
import JournalFileStorage
import JournalStorage
import KeyValueStore
import PageStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift bench kv`: durable key-value puts on the page store
/// against SQLite (WAL, synchronous=FULL), same keys, value sizes, writer
/// counts and file system, in one run with the two sides interleaved; then
/// gets of committed keys, checkpoint throughput and recovery time against
/// journal size.
///
/// Each put is durable before it returns on both sides: ours is one
/// page-store transaction (one journal record), SQLite's one autocommit
/// INSERT OR REPLACE on a connection per writer. Our writers are tasks on
/// the cooperative pool using the async API (`--writers-kind tasks`, the
/// default) or threads using the blocking one; SQLite's are threads (its
/// API blocks).
struct BenchKV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Key-value puts (durable) against SQLite WAL synchronous=FULL; gets, checkpoint, recovery.")

    @Option(help: "Directory for the stores (the file system measured).")
    var dir = "./data/bench-kv"

    @Option(help: "Writer counts, comma-separated.")
    var writers = "1,16,64"

    @Option(help: "Seconds per side and cell.")
    var seconds: Double = 3

    @Option(help: "Unmeasured seconds of puts before each side's measured window (the journal zero-fills its first segments meanwhile; on a slow disk that takes seconds).")
    var warmup: Double = 3

    @Option(help: "Rounds per cell (medians over rounds).")
    var rounds = 3

    @Option(help: "Our writers: tasks (async puts) or threads (blocking puts). SQLite's are threads.")
    var writersKind: WritersKind = .tasks

    enum WritersKind: String, ExpressibleByArgument, CaseIterable, Sendable {
        case tasks, threads
    }

    @Option(help: "Value bytes.")
    var valueBytes = 100

    @Flag(help: "Open files without O_DIRECT (O_DSYNC stays).")
    var noDirect = false

    @Flag(help: "A short smoke pass.")
    var quick = false

    @Flag(help: "One JSON object per line.")
    var json = false

    func validate() throws {
        guard valueBytes >= 1 && valueBytes <= 500 else { throw ValidationError("--value-bytes must be in 1...500") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard warmup >= 0 && warmup <= 60 else { throw ValidationError("--warmup must be in 0...60 seconds") }
    }

    func run() throws {
        let counts = writers.split(separator: ",").compactMap { Int($0) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 >= 1 && $0 <= 256 }) else { throw ValidationError("--writers: counts in 1...256") }
        let seconds = quick ? min(self.seconds, 0.5) : self.seconds
        let rounds = quick ? 1 : self.rounds
        // Like `mkdir -p`: every missing parent too.
        var prefix = dir.hasPrefix("/") ? "" : "."
        for part in dir.split(separator: "/") where part != "." {
            prefix += "/" + part
            mkdir(prefix, 0o755)
        }
        let value = [UInt8](repeating: 0x61, count: valueBytes)
        if !json { print("bench kv: \(valueBytes)-byte values, \(warmUpSeconds(seconds)) s warm-up + \(seconds) s per side, \(rounds) rounds, our writers: \(writersKind.rawValue), dir \(dir)") }
        var lastStore: String?
        for w in counts {
            var ours: [Double] = []
            var theirs: [Double] = []
            var oursGets: [Double] = []
            var theirsGets: [Double] = []
            var batchesPerTransaction: [Double] = []
            for round in 0..<rounds {
                let storePath = "\(dir)/store-\(w)-\(round)"
                let dbPath = "\(dir)/sqlite-\(w)-\(round).db"
                removeTree(storePath)
                removeSQLite(dbPath)
                // Alternate which side goes first.
                let order = round % 2 == 0 ? [0, 1] : [1, 0]
                for side in order {
                    if side == 0 {
                        let (rate, gets, grouping) = try runOurs(path: storePath, writers: w, seconds: seconds, value: value)
                        ours.append(rate)
                        batchesPerTransaction.append(grouping)
                        oursGets.append(gets)
                    } else {
                        let (rate, gets) = try runSQLite(path: dbPath, writers: w, seconds: seconds, value: value)
                        theirs.append(rate)
                        theirsGets.append(gets)
                    }
                }
                if let lastStore { removeTree(lastStore) }
                lastStore = storePath
                removeSQLite(dbPath)
            }
            let m1 = median(ours)
            let m2 = median(theirs)
            if json {
                print("{\"bench\": \"kv\", \"writers\": \(w), \"puts_per_s\": \(Int(m1)), \"sqlite_puts_per_s\": \(Int(m2)), \"ratio\": \(fmt(m1 / max(m2, 1))), \"gets_per_s\": \(Int(median(oursGets))), \"sqlite_gets_per_s\": \(Int(median(theirsGets))), \"writers_kind\": \"\(writersKind.rawValue)\", \"batches_per_transaction\": \(fmt(median(batchesPerTransaction))), \"rounds\": \(rounds), \"seconds\": \(fmt(seconds)), \"warmup_s\": \(fmt(warmUpSeconds(seconds)))}")
            } else {
                print("writers \(w): page store \(Int(m1)) puts/s [\(Int(ours.min() ?? 0))-\(Int(ours.max() ?? 0))], SQLite \(Int(m2)) puts/s [\(Int(theirs.min() ?? 0))-\(Int(theirs.max() ?? 0))], ratio \(fmt(m1 / max(m2, 1)))x (our writers: \(writersKind.rawValue), \(fmt(median(batchesPerTransaction))) batches per transaction); gets/s (1 reader) page store \(Int(median(oursGets))), SQLite \(Int(median(theirsGets)))")
            }
        }
        if let lastStore { removeTree(lastStore) }
        try checkpointAndRecovery()
    }

    func location(_ path: String) throws -> PageStoreLocation {
        var fs = FileSystemStorage.Options()
        fs.directIO = !noDirect
        return try PageStoreLocation.directory(path: path, options: fs, create: true)
    }

    /// 16 MiB journal segments: each is zero-filled once when prepared.
    func benchConfiguration() -> PageStoreConfiguration {
        var c = PageStoreConfiguration()
        c.journal.segmentBytes = 16 << 20
        return c
    }

    func warmUpSeconds(_ seconds: Double) -> Double { quick ? min(warmup, 0.2) : warmup }

    /// `automaticCheckpoints: false` for the recovery cells: the journal
    /// then holds every put, and recovery replays it all.
    func quietOptions(automaticCheckpoints: Bool = true) -> PageStoreOptions {
        var o = PageStoreOptions()
        if !automaticCheckpoints { o.checkpointThresholdJournalBytes = nil }
        o.logger.logLevel = .warning
        o.journal.logger.logLevel = .warning
        return o
    }

    /// `writers` tasks or threads put distinct keys for `seconds`; returns
    /// puts/s, then gets/s of committed keys from one thread, and the mean
    /// batches per write-group transaction in the measured window.
    func runOurs(path: String, writers: Int, seconds: Double, value: [UInt8]) throws -> (Double, Double, Double) {
        let loc = try location(path)
        try KeyValueStore.create(location: loc, configuration: benchConfiguration())
        let kv = try KeyValueStore.open(location: loc, options: quietOptions())
        defer { kv.close() }
        let failure = Mutex<String?>(nil)
        // Warm-up, not measured: the journal prepares its first segments
        // (zero-filled once) while these run.
        let before: (transactions: Int, batches: Int)
        let counts: [Int]
        let elapsed: Double
        switch writersKind {
        case .threads:
            _ = runWriters(writers, seconds: warmUpSeconds(seconds)) { w, i in (try? kv.put(Array("warm\(w):\(i)".utf8), value)) != nil }
            before = kv.writeGroupStatistics
            (counts, elapsed) = runWriters(writers, seconds: seconds) { w, i in
                do { try kv.put(key(w, i), value) } catch { failure.withLock { $0 = "\(error)" }; return false }
                return true
            }
        case .tasks:
            _ = runWriterTasks(writers, seconds: warmUpSeconds(seconds)) { w, i in
                do { try await kv.put(Array("warm\(w):\(i)".utf8), value) } catch { return false }
                return true
            }
            before = kv.writeGroupStatistics
            (counts, elapsed) = runWriterTasks(writers, seconds: seconds) { w, i in
                do { try await kv.put(key(w, i), value) } catch { failure.withLock { $0 = "\(error)" }; return false }
                return true
            }
        }
        let after = kv.writeGroupStatistics
        if let f = failure.withLock({ $0 }) { throw CLIError(.ioError, "bench kv: \(f)") }
        let gets = try measureGets(seconds: seconds / 2, counts: counts) { k in
            do { return try kv.get(k) != nil } catch { throw CLIError(.ioError, "bench kv: \(error)") }
        }
        let grouping = Double(after.batches - before.batches) / Double(max(1, after.transactions - before.transactions))
        return (Double(counts.reduce(0, +)) / elapsed, gets, grouping)
    }

    func runSQLite(path: String, writers: Int, seconds: Double, value: [UInt8]) throws -> (Double, Double) {
        guard let setup = SQLite(path: path) else { throw CLIError(.ioError, "bench kv: cannot open \(path)") }
        try setup.exec("PRAGMA journal_mode=WAL")
        try setup.exec("PRAGMA synchronous=FULL")
        try setup.exec("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        let connections = try (0..<writers).map { _ -> SQLite in
            guard let c = SQLite(path: path) else { throw CLIError(.ioError, "bench kv: cannot open \(path)") }
            try c.exec("PRAGMA synchronous=FULL")
            try c.prepareInsert()
            return c
        }
        let failure = Mutex<String?>(nil)
        _ = runWriters(writers, seconds: warmUpSeconds(seconds)) { w, i in connections[w].insert(Array("warm\(w):\(i)".utf8), value) == nil }
        let (counts, elapsed) = runWriters(writers, seconds: seconds) { w, i in
            if let e = connections[w].insert(key(w, i), value) { failure.withLock { $0 = e }; return false }
            return true
        }
        if let f = failure.withLock({ $0 }) { throw CLIError(.ioError, "bench kv: SQLite: \(f)") }
        try setup.prepareSelect()
        let gets = try measureGets(seconds: seconds / 2, counts: counts) { k in setup.select(k) }
        return (Double(counts.reduce(0, +)) / elapsed, gets)
    }

    /// Gets of random committed keys from one thread for `seconds`; every
    /// one must be found.
    func measureGets(seconds: Double, counts: [Int], get: ([UInt8]) throws -> Bool) throws -> Double {
        let writers = counts.indices.filter { counts[$0] > 0 }
        guard !writers.isEmpty else { return 0 }
        var state: UInt64 = 12345
        var done = 0
        let start = monotonicSeconds()
        while monotonicSeconds() - start < seconds {
            for _ in 0..<64 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let w = writers[Int((state >> 33) % UInt64(writers.count))]
                let i = Int((state >> 13) % UInt64(counts[w]))
                guard try get(key(w, i)) else { throw CLIError(.ioError, "bench kv: committed key \(w):\(i) not found") }
                done += 1
            }
        }
        return Double(done) / (monotonicSeconds() - start)
    }

    func checkpointAndRecovery() throws {
        // Recovery time against journal size: N puts, close, reopen.
        let sizes = quick ? [2_000] : [10_000, 40_000, 100_000]
        for n in sizes {
            let path = "\(dir)/recovery-\(n)"
            removeTree(path)
            defer { removeTree(path) }
            let loc = try location(path)
            try KeyValueStore.create(location: loc, configuration: benchConfiguration())
            do {
                let kv = try KeyValueStore.open(location: loc, options: quietOptions(automaticCheckpoints: false))
                // Lazy batches of 100 puts to fill the journal fast.
                var batch: [KeyValueOperation] = []
                var last: LSN = 0
                for i in 0..<n {
                    batch.append(.put(key: key(i % 64, i / 64), value: [UInt8](repeating: 0x62, count: valueBytes)))
                    if batch.count == 16 {
                        last = try kv.writeLazy(batch)
                        batch.removeAll()
                    }
                }
                if !batch.isEmpty { last = try kv.writeLazy(batch) }
                try kv.waitUntilDurable(last)
                kv.close()
            }
            let loc2 = try location(path)
            let reopened = try KeyValueStore.open(location: loc2, options: quietOptions(automaticCheckpoints: false))
            let report = reopened.recoveryReport
            let journalBytes = reopened.statistics.pageStore.journalBytes
            let recordsMB = Double(report.replayedTransactions) * 0 + Double(journalBytes) / 1e6
            let c = try reopened.checkpoint()
            let mbps = Double(c.bytesWritten) / 1e6 / (Double(c.nanoseconds) / 1e9)
            let line = "recovery: \(n) puts in \(report.replayedTransactions) transactions, journal \(fmt(recordsMB)) MB in segments: \(fmt(Double(report.nanoseconds) / 1e6)) ms; checkpoint \(fmt(Double(c.bytesWritten) / 1e6)) MB in \(fmt(Double(c.nanoseconds) / 1e6)) ms = \(fmt(mbps)) MB/s"
            if json {
                print("{\"bench\": \"kv-recovery\", \"puts\": \(n), \"transactions\": \(report.replayedTransactions), \"journal_segment_mb\": \(fmt(recordsMB)), \"recovery_ms\": \(fmt(Double(report.nanoseconds) / 1e6)), \"checkpoint_mb\": \(fmt(Double(c.bytesWritten) / 1e6)), \"checkpoint_mb_per_s\": \(fmt(mbps))}")
            } else {
                print(line)
            }
            reopened.close()
        }
    }
}

// MARK: Harness

private func key(_ writer: Int, _ i: Int) -> [UInt8] {
    Array("w\(writer):\(i)".utf8)
}


private func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s[s.count / 2]
}

private func fmt(_ x: Double) -> String {
    let r = (x * 10).rounded() / 10
    return "\(r)"
}

private func removeTree(_ path: String) {
    for sub in ["/journal", ""] {
        let p = path + sub
        guard let d = opendir(p) else { continue }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." || name == "journal" { continue }
            unlink(p + "/" + name)
        }
        closedir(d)
        rmdir(p)
    }
}

private func removeSQLite(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
}

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
private func runWriters(_ writers: Int, seconds: Double, _ body: @escaping @Sendable (Int, Int) -> Bool) -> ([Int], Double) {
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
private func runWriterTasks(_ writers: Int, seconds: Double, _ body: @escaping @Sendable (Int, Int) async -> Bool) -> ([Int], Double) {
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

/// One SQLite connection with its prepared statements.
private final class SQLite: @unchecked Sendable {
    private var db: OpaquePointer?
    private var insertStatement: OpaquePointer?
    private var selectStatement: OpaquePointer?

    init?(path: String) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK else { return nil }
        sqlite3_busy_timeout(db, 60_000)
    }

    deinit {
        sqlite3_finalize(insertStatement)
        sqlite3_finalize(selectStatement)
        sqlite3_close(db)
    }

    var message: String { String(cString: sqlite3_errmsg(db)) }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw CLIError(.ioError, "SQLite: \(sql): \(message)") }
    }

    func prepareInsert() throws {
        guard sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", -1, &insertStatement, nil) == SQLITE_OK else {
            throw CLIError(.ioError, "SQLite prepare: \(message)")
        }
    }

    func prepareSelect() throws {
        guard sqlite3_prepare_v2(db, "SELECT v FROM kv WHERE k = ?", -1, &selectStatement, nil) == SQLITE_OK else {
            throw CLIError(.ioError, "SQLite prepare: \(message)")
        }
    }

    /// One autocommit insert; nil on success, the error otherwise.
    func insert(_ key: [UInt8], _ value: [UInt8]) -> String? {
        let rc = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                sqlite3_bind_blob(insertStatement, 1, k.baseAddress, Int32(k.count), nil)
                sqlite3_bind_blob(insertStatement, 2, v.baseAddress, Int32(v.count), nil)
                let rc = sqlite3_step(insertStatement)
                sqlite3_reset(insertStatement)
                return rc
            }
        }
        return rc == SQLITE_DONE ? nil : message
    }

    func select(_ key: [UInt8]) -> Bool {
        key.withUnsafeBytes { k in
            sqlite3_bind_blob(selectStatement, 1, k.baseAddress, Int32(k.count), nil)
            let rc = sqlite3_step(selectStatement)
            let found = rc == SQLITE_ROW && sqlite3_column_bytes(selectStatement, 0) > 0
            sqlite3_reset(selectStatement)
            return found
        }
    }
}
