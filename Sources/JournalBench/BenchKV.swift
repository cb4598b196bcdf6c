import ArgumentParser
import CSQLite
import Journal
import JournalPrimitives
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
/// against SQLite (WAL, synchronous=FULL) and RocksDB (sync writes, WAL
/// on, default options otherwise), same keys, value sizes, writer counts
/// and file system, in one run with the three sides interleaved (the first
/// side rotates from round to round); then gets of committed keys,
/// checkpoint throughput and recovery time against journal size.
///
/// Each put is durable before it returns on every side: ours is one
/// page-store transaction (one journal record), SQLite's one autocommit
/// INSERT OR REPLACE on a connection per writer, RocksDB's one `Put` with
/// `WriteOptions.sync` on the shared handle (its write groups batch
/// concurrent writers). Our writers are tasks on the cooperative pool
/// using the async API (`--writers-kind tasks`, the default) or threads
/// using the blocking one; the peers' are threads (their APIs block).
struct BenchKV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Key-value puts (durable) against SQLite WAL synchronous=FULL and RocksDB sync writes; gets, checkpoint, recovery.")

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

    @Flag(help: "Journal whole page images only (no page deltas): the records before deltas existed.")
    var wholePages = false

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
        if !json { print("bench kv: \(valueBytes)-byte values, \(warmUpSeconds(seconds)) s warm-up + \(seconds) s per side, \(rounds) rounds, our writers: \(writersKind.rawValue), peers: SQLite WAL synchronous=FULL, RocksDB sync writes (WAL on, default options), dir \(dir)") }
        var lastStore: String?
        for w in counts {
            var cell = KVCell()
            for round in 0..<rounds {
                let storePath = "\(dir)/store-\(w)-\(round)"
                let dbPath = "\(dir)/sqlite-\(w)-\(round).db"
                let rocksPath = "\(dir)/rocksdb-\(w)-\(round)"
                removeTree(storePath)
                removeSQLite(dbPath)
                RocksDBPeer.destroy(rocksPath)
                // Rotate which side goes first.
                for side in (0..<3).map({ ($0 + round) % 3 }) {
                    switch side {
                    case 0:
                        let (rate, gets, grouping, recordBytes) = try runOurs(path: storePath, writers: w, seconds: seconds, value: value)
                        cell.ours.append(rate)
                        cell.recordBytesPerPut.append(recordBytes)
                        cell.batchesPerTransaction.append(grouping)
                        cell.oursGets.append(gets)
                    case 1:
                        let (rate, gets) = try runSQLite(path: dbPath, writers: w, seconds: seconds, value: value)
                        cell.sqlite.append(rate)
                        cell.sqliteGets.append(gets)
                    default:
                        let (rate, gets) = try runRocksDB(path: rocksPath, writers: w, seconds: seconds, value: value)
                        cell.rocksdb.append(rate)
                        cell.rocksdbGets.append(gets)
                    }
                }
                if let lastStore { removeTree(lastStore) }
                lastStore = storePath
                removeSQLite(dbPath)
                RocksDBPeer.destroy(rocksPath)
            }
            print(json ? cell.json(writers: w, kind: writersKind, rounds: rounds, seconds: seconds, warmup: warmUpSeconds(seconds))
                       : cell.text(writers: w, kind: writersKind))
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
        o.journalPageDeltas = !wholePages
        return o
    }

    /// `writers` tasks or threads put distinct keys for `seconds`; returns
    /// puts/s, then gets/s of committed keys from one thread, the mean
    /// batches per write-group transaction and the transaction-record bytes
    /// journaled per put in the measured window.
    func runOurs(path: String, writers: Int, seconds: Double, value: [UInt8]) throws -> (Double, Double, Double, Double) {
        let loc = try location(path)
        try KeyValueStore.create(location: loc, configuration: benchConfiguration())
        let kv = try KeyValueStore.open(location: loc, options: quietOptions())
        defer { kv.close() }
        let failure = Mutex<String?>(nil)
        // Warm-up, not measured: the journal prepares its first segments
        // (zero-filled once) while these run.
        let before: (transactions: Int, batches: Int)
        let bytesBefore: Int
        let counts: [Int]
        let elapsed: Double
        switch writersKind {
        case .threads:
            _ = runWriters(writers, seconds: warmUpSeconds(seconds)) { w, i in (try? kv.put(Array("warm\(w):\(i)".utf8), value)) != nil }
            before = kv.writeGroupStatistics
            bytesBefore = kv.statistics.pageStore.committedRecordBytes
            (counts, elapsed) = runWriters(writers, seconds: seconds) { w, i in
                do { try kv.put(benchKey(w, i), value) } catch { failure.withLock { $0 = "\(error)" }; return false }
                return true
            }
        case .tasks:
            _ = runWriterTasks(writers, seconds: warmUpSeconds(seconds)) { w, i in
                do { try await kv.put(Array("warm\(w):\(i)".utf8), value) } catch { return false }
                return true
            }
            before = kv.writeGroupStatistics
            bytesBefore = kv.statistics.pageStore.committedRecordBytes
            (counts, elapsed) = runWriterTasks(writers, seconds: seconds) { w, i in
                do { try await kv.put(benchKey(w, i), value) } catch { failure.withLock { $0 = "\(error)" }; return false }
                return true
            }
        }
        let after = kv.writeGroupStatistics
        let recordBytes = kv.statistics.pageStore.committedRecordBytes - bytesBefore
        if let f = failure.withLock({ $0 }) { throw CLIError(.ioError, "bench kv: \(f)") }
        let gets = try measureGets(seconds: seconds / 2, counts: counts) { k in
            do { return try kv.get(k) != nil } catch { throw CLIError(.ioError, "bench kv: \(error)") }
        }
        let grouping = Double(after.batches - before.batches) / Double(max(1, after.transactions - before.transactions))
        let puts = counts.reduce(0, +)
        return (Double(puts) / elapsed, gets, grouping, Double(recordBytes) / Double(max(1, puts)))
    }

    /// `writers` threads put distinct keys into RocksDB (sync writes) for
    /// `seconds`; returns puts/s, then gets/s of committed keys from one thread.
    func runRocksDB(path: String, writers: Int, seconds: Double, value: [UInt8]) throws -> (Double, Double) {
        let db: RocksDBPeer
        do { db = try RocksDBPeer(path: path) } catch { throw CLIError(.ioError, "bench kv: \(error)") }
        let failure = Mutex<String?>(nil)
        _ = runWriters(writers, seconds: warmUpSeconds(seconds)) { w, i in db.put(Array("warm\(w):\(i)".utf8), value) == nil }
        let (counts, elapsed) = runWriters(writers, seconds: seconds) { w, i in
            if let e = db.put(benchKey(w, i), value) { failure.withLock { $0 = e }; return false }
            return true
        }
        if let f = failure.withLock({ $0 }) { throw CLIError(.ioError, "bench kv: RocksDB: \(f)") }
        let gets = try measureGets(seconds: seconds / 2, counts: counts) { k in
            do { return try db.get(k) != nil } catch { throw CLIError(.ioError, "bench kv: \(error)") }
        }
        return (Double(counts.reduce(0, +)) / elapsed, gets)
    }

    func runSQLite(path: String, writers: Int, seconds: Double, value: [UInt8]) throws -> (Double, Double) {
        guard let setup = SQLiteKV(path: path) else { throw CLIError(.ioError, "bench kv: cannot open \(path)") }
        try setup.exec("PRAGMA journal_mode=WAL")
        try setup.exec("PRAGMA synchronous=FULL")
        try setup.exec("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        let connections = try (0..<writers).map { _ -> SQLiteKV in
            guard let c = SQLiteKV(path: path) else { throw CLIError(.ioError, "bench kv: cannot open \(path)") }
            try c.exec("PRAGMA synchronous=FULL")
            try c.prepareInsert()
            return c
        }
        let failure = Mutex<String?>(nil)
        _ = runWriters(writers, seconds: warmUpSeconds(seconds)) { w, i in connections[w].insert(Array("warm\(w):\(i)".utf8), value) == nil }
        let (counts, elapsed) = runWriters(writers, seconds: seconds) { w, i in
            if let e = connections[w].insert(benchKey(w, i), value) { failure.withLock { $0 = e }; return false }
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
                guard try get(benchKey(w, i)) else { throw CLIError(.ioError, "bench kv: committed key \(w):\(i) not found") }
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
                    batch.append(.put(key: benchKey(i % 64, i / 64), value: [UInt8](repeating: 0x62, count: valueBytes)))
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
            let line = "recovery: \(n) puts in \(report.replayedTransactions) transactions, journal \(KVCell.fmt(recordsMB)) MB in segments: \(KVCell.fmt(Double(report.nanoseconds) / 1e6)) ms; checkpoint \(KVCell.fmt(Double(c.bytesWritten) / 1e6)) MB in \(KVCell.fmt(Double(c.nanoseconds) / 1e6)) ms = \(KVCell.fmt(mbps)) MB/s"
            if json {
                print("{\"bench\": \"kv-recovery\", \"puts\": \(n), \"transactions\": \(report.replayedTransactions), \"journal_segment_mb\": \(KVCell.fmt(recordsMB)), \"recovery_ms\": \(KVCell.fmt(Double(report.nanoseconds) / 1e6)), \"checkpoint_mb\": \(KVCell.fmt(Double(c.bytesWritten) / 1e6)), \"checkpoint_mb_per_s\": \(KVCell.fmt(mbps))}")
            } else {
                print(line)
            }
            reopened.close()
        }
    }
}

// MARK: Harness

/// The key of put `i` of writer `writer`: distinct across writers.
func benchKey(_ writer: Int, _ i: Int) -> [UInt8] {
    Array("w\(writer):\(i)".utf8)
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
