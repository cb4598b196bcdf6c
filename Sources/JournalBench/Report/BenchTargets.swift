/// The targets of the benchmark issue, judged from one run's results.
struct BenchTarget {
    enum Verdict: String {
        case met
        case missed
        /// The suite or cell did not run (or printed no figure).
        case notMeasured = "not measured"
    }

    /// What is measured, in words.
    var what: String
    /// The goal, e.g. ">= 8x".
    var goal: String
    /// The figures the ratio comes from.
    var measured: String
    /// The ratio (or absolute figure) the verdict is judged on.
    var value: Double?
    var verdict: Verdict

    /// A target on `value` against `threshold`: at least it, or (when
    /// `atMost`) at most it.
    init(what: String, goal: String, measured: String, value: Double?, threshold: Double, atMost: Bool = false) {
        self.what = what
        self.goal = goal
        self.measured = measured
        self.value = value
        if let value, value.isFinite {
            verdict = (atMost ? value <= threshold : value >= threshold) ? .met : .missed
        } else {
            verdict = .notMeasured
        }
    }

    /// Every target, in the order of the issue.
    static func all(_ run: BenchRun) -> [BenchTarget] {
        var targets = diskAppendTargets(run)
        // /dev/shm: an absolute rate.
        let shm64 = best(run.suite(BenchSuiteName.appendShm).filter { $0.integer("appenders") == 64 && $0.integer("record_bytes") == 128 && $0.integer("window") == nil })
        let shmRate = shm64?.number("ours")
        targets.append(BenchTarget(
            what: "128 B appends/s with 64 appenders on /dev/shm\(shm64?.string("api").map { " (\($0) API)" } ?? "")",
            goal: ">= 1,000,000/s",
            measured: shm64.map { "\(formatNumber(shmRate ?? .nan)) appends/s (\($0.string("cell") ?? "?"))" } ?? "-",
            value: shmRate.map { $0 / 1e6 }, threshold: 1))
        targets.append(asyncLatencyTarget(run))

        // Replay.
        let replay = run.suite(BenchSuiteName.replay).first { $0.string("bench") == "replay" || $0.number("iterate_gbps") != nil }
        let it = replay?.number("iterate_gbps"), fio = replay?.number("fio_gbps")
        targets.append(BenchTarget(
            what: "Replay (cold forEachRecord) vs fio sequential direct reads (its best queue depth)", goal: ">= 0.8",
            measured: replay == nil ? "-" : "\(formatNumber(it ?? .nan)) vs \(formatNumber(fio ?? .nan)) GB/s",
            value: ratioOrNil(it, fio), threshold: 0.8))

        // Paged file: the worst cell of each kind.
        let paged = run.suite(BenchSuiteName.pagedFile).filter { $0.string("cell") != nil }
        for (prefix, label, threshold) in [("overwrite", "overwrite", 0.95), ("first-touch", "first-touch", 0.8), ("read", "read", 0.95)] {
            let cells = paged.filter { ($0.string("cell") ?? "").hasPrefix(prefix) }
            let worst = cells.min { pagedRatio($0) ?? .infinity < pagedRatio($1) ?? .infinity }
            targets.append(BenchTarget(
                what: "Paged file \(label) cells vs flat buffer (worst of \(cells.count))", goal: ">= \(formatNumber(threshold))",
                measured: worst.map { "\($0.string("cell") ?? "?"): \(formatNumber($0.number("paged_gbps") ?? .nan)) vs \(formatNumber($0.number("flat_gbps") ?? .nan)) GB/s" } ?? "-",
                value: worst.flatMap(pagedRatio), threshold: threshold))
        }

        // Key-value store.
        let kv64 = run.suite(BenchSuiteName.kv).first { $0.string("bench") == "kv" && $0.integer("writers") == 64 }
        let puts = kv64?.number("puts_per_s"), sqlite = kv64?.number("sqlite_puts_per_s")
        targets.append(BenchTarget(
            what: "Key-value puts, 64 writers, vs SQLite WAL synchronous=FULL", goal: ">= 10x",
            measured: kv64 == nil ? "-" : "\(formatNumber(puts ?? .nan)) vs \(formatNumber(sqlite ?? .nan)) puts/s",
            value: ratioOrNil(puts, sqlite), threshold: 10))
        targets += keyValuePeerTargets(run)
        targets += backendTargets(run)
        targets += followTargets(run)
        return targets
    }

    /// One async appender on /dev/shm against the blocking API on the same
    /// journal, in the same rounds (the `blocking` peer of `bench append`):
    /// p50 latency at most 2x.
    private static func asyncLatencyTarget(_ run: BenchRun) -> BenchTarget {
        let cell = run.suite(BenchSuiteName.appendShm).first {
            $0.integer("appenders") == 1 && $0.integer("record_bytes") == 128 && $0.integer("window") == nil
        }
        let async = cell?.number("ours_p50_us"), blocking = cell?.number("blocking_p50_us")
        return BenchTarget(
            what: "p50 latency of 1 async appender on /dev/shm vs the blocking API's, same rounds", goal: "<= 2x",
            measured: blocking == nil ? "-" : "\(formatNumber(async ?? .nan)) vs \(formatNumber(blocking ?? .nan)) us",
            value: blocking == nil ? nil : cell?.number("p50_ratio_blocking"), threshold: 2, atMost: true)
    }

    /// The append targets on the disk: throughput against fio and SQLite,
    /// 1 MiB bandwidth, single-appender latency.
    private static func diskAppendTargets(_ run: BenchRun) -> [BenchTarget] {
        var targets: [BenchTarget] = []
        let disk = run.suite(BenchSuiteName.appendDisk)

        // 64 appenders of 128 B on the disk: the best such cell.
        // Cells whose appenders wait for each append: the pipelined cell
        // (a "window" of outstanding appends) is reported, not judged.
        let disk64 = best(disk.filter { $0.integer("appenders") == 64 && $0.integer("record_bytes") == 128 && $0.integer("window") == nil })
        targets.append(ratioTarget(
            "Durable appends, 64 appenders of 128 B, vs fio QD1 4 KiB IOPS (disk)", ">= 8x",
            disk64, "ours", "commits/s", "fio_qd1", "fio QD1", "IOPS", threshold: 8))
        targets.append(ratioTarget(
            "Durable appends, 64 appenders of 128 B, vs SQLite WAL synchronous=FULL commits/s (disk)", ">= 15x",
            disk64, "ours", "commits/s", "sqlite_full", "SQLite FULL", "commits/s", threshold: 15))

        // 1 MiB records against fio's better queue depth.
        let mib = disk.first { $0.integer("record_bytes") == 1 << 20 }
        let fioBest = mib.flatMap { r -> Double? in
            let q = [r.number("fio_qd1"), r.number("fio_qd4")].compactMap { $0 }
            return q.max()
        }
        let mibOurs = mib?.number("ours")
        targets.append(BenchTarget(
            what: "1 MiB durable appends, bandwidth vs fio's best of QD1/QD4 (disk)", goal: ">= 0.9",
            measured: mib == nil ? "-" : "\(formatNumber(mibOurs ?? .nan)) vs \(formatNumber(fioBest ?? .nan)) MB/s",
            value: ratioOrNil(mibOurs, fioBest), threshold: 0.9))

        // Single appender p99.
        let one = disk.first { $0.integer("appenders") == 1 && $0.integer("record_bytes") == 128 }
        let p99 = one?.number("ours_p99_us"), fioP99 = one?.number("fio_qd1_p99_us")
        targets.append(BenchTarget(
            what: "Single appender p99 latency vs fio QD1 p99 (disk)", goal: "<= 1.5x",
            measured: one == nil ? "-" : "\(formatNumber(p99 ?? .nan)) vs \(formatNumber(fioP99 ?? .nan)) us",
            value: ratioOrNil(p99, fioP99), threshold: 1.5, atMost: true))
        return targets
    }

    /// The record with the highest "ours" figure.
    static func best(_ records: [BenchRecord]) -> BenchRecord? {
        records.max { ($0.number("ours") ?? -1) < ($1.number("ours") ?? -1) }
    }

    static func ratioTarget(
        _ what: String, _ goal: String, _ record: BenchRecord?, _ oursKey: String, _ oursUnit: String,
        _ peerKey: String, _ peerName: String, _ peerUnit: String, threshold: Double
    ) -> BenchTarget {
        let ours = record?.number(oursKey), peer = record?.number(peerKey)
        let measured = record.map { r in
            "\(formatNumber(ours ?? .nan)) \(oursUnit) vs \(peerName) \(formatNumber(peer ?? .nan)) \(peerUnit) (\(r.string("cell") ?? "?"))"
        } ?? "-"
        return BenchTarget(what: what, goal: goal, measured: measured, value: ratioOrNil(ours, peer), threshold: threshold)
    }

    static func pagedRatio(_ r: BenchRecord) -> Double? {
        if let p = r.number("paged_gbps"), let f = r.number("flat_gbps") { return ratioOrNil(p, f) }
        return r.number("ratio")
    }

    /// The key-value store against its peers at 1 and 64 writers (disk).
    private static func keyValuePeerTargets(_ run: BenchRun) -> [BenchTarget] {
        let kv = run.suite(BenchSuiteName.kv).filter { $0.string("bench") == "kv" }
        let one = kv.first { $0.integer("writers") == 1 }, many = kv.first { $0.integer("writers") == 64 }
        func target(_ r: BenchRecord?, writers: Int, peer: String, key: String, threshold: Double) -> BenchTarget {
            let ours = r?.number("puts_per_s"), theirs = r?.number(key)
            return BenchTarget(
                what: "Key-value puts, \(writers) writer\(writers == 1 ? "" : "s"), vs \(peer)", goal: ">= \(formatNumber(threshold))x",
                measured: theirs == nil ? "-" : "\(formatNumber(ours ?? .nan)) vs \(formatNumber(theirs ?? .nan)) puts/s",
                value: ratioOrNil(ours, theirs), threshold: threshold)
        }
        return [
            target(one, writers: 1, peer: "RocksDB sync writes", key: "rocksdb_puts_per_s", threshold: 1),
            target(one, writers: 1, peer: "SQLite WAL synchronous=FULL", key: "sqlite_puts_per_s", threshold: 1),
            target(many, writers: 64, peer: "RocksDB sync writes", key: "rocksdb_puts_per_s", threshold: 2),
        ]
    }
}

/// a / b when both are known and b is positive.
func ratioOrNil(_ a: Double?, _ b: Double?) -> Double? {
    guard let a, let b, b > 0 else { return nil }
    return a / b
}
