import Foundation

/// The `backends` suite of `bench all`: `Tools/bench/backends.sh --json`,
/// which runs `bench append --io-backend io-uring` and `--io-backend
/// threads` alternately on the disk and on tmpfs, each with fio beside it in
/// every round. Each of its lines is one `bench append` cell of one run,
/// tagged with `io_backend`.
///
/// Per file system and cell, the figure of each backend is the median over
/// runs of its per-run median; a ratio to fio QD1 is the median over runs of
/// the ratio measured in the same rounds, which is worth more than a ratio
/// to a peer measured minutes apart.
struct BenchBackendCell {
    static let ioUring = "io-uring"
    static let threads = "threads"

    var fileSystem: String
    var cell: String
    var metric: String
    var ioUringRate: Double?
    var threadsRate: Double?
    var ioUringToFio: Double?
    var threadsToFio: Double?

    var threadsToIoUring: Double? { ratioOrNil(threadsRate, ioUringRate) }

    /// The cells of a run, sorted by file system then cell.
    static func all(_ run: BenchRun) -> [BenchBackendCell] {
        let records = run.suite(BenchSuiteName.backends).filter { $0.string("cell") != nil && $0.string("io_backend") != nil }
        var groups: [String: [BenchRecord]] = [:]
        for r in records {
            groups[key(r), default: []].append(r)
        }
        return groups.keys.sorted().compactMap { k in groups[k].flatMap(cell) }
    }

    private static func key(_ r: BenchRecord) -> String {
        "\(r.string("file_system") ?? "?")\u{0}\(r.string("cell") ?? "?")"
    }

    private static func cell(_ records: [BenchRecord]) -> BenchBackendCell? {
        guard let first = records.first else { return nil }
        func side(_ backend: String, _ field: String) -> Double? {
            median(records.filter { $0.string("io_backend") == backend }.compactMap { $0.number(field) })
        }
        return BenchBackendCell(
            fileSystem: first.string("file_system") ?? "?", cell: first.string("cell") ?? "?",
            metric: first.string("metric") ?? "?",
            ioUringRate: side(ioUring, "ours"), threadsRate: side(threads, "ours"),
            ioUringToFio: side(ioUring, "ratio_qd1"), threadsToFio: side(threads, "ratio_qd1"))
    }

    private static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

extension BenchReport {
    /// The two I/O backends side by side.
    func backends() -> [String] {
        let cells = BenchBackendCell.all(run)
        guard !cells.isEmpty else { return [] }
        func text(_ value: Double?) -> String { value.map { formatNumber($0) } ?? "-" }
        let rows = cells.map { c in
            [c.fileSystem, c.cell, c.metric, text(c.ioUringRate), text(c.threadsRate), text(c.threadsToIoUring),
             text(c.ioUringToFio), text(c.threadsToFio)]
        }
        return [
            "## The two I/O backends", "",
            "io_uring against the pool of threads issuing `pwritev2(RWF_DSYNC)` that hosts denying io_uring get "
                + "(`JournalOptions.ioBackend`), alternately in one run (`Tools/bench/backends.sh`). "
                + "Figures are the median over runs of each backend's median; the ratios to fio QD1 are medians of ratios measured in the same rounds.",
            "",
        ] + markdownTable(
            ["file system", "cell", "metric", "io-uring", "threads", "threads / io-uring", "io-uring / fio QD1", "threads / fio QD1"], rows) + [""]
    }
}

extension BenchTarget {
    /// The backend targets: the thread backend at least 0.8 of io_uring with
    /// 64 appenders of 128 B on the disk, and io_uring at least level with
    /// the threads on every cell (judged on the worst cell).
    static func backendTargets(_ run: BenchRun) -> [BenchTarget] {
        let cells = BenchBackendCell.all(run)
        let disk64 = cells.first { $0.fileSystem != "tmpfs" && $0.cell == "append-128B-64" }
        let worst = cells.filter { $0.threadsToIoUring != nil }.max { $0.threadsToIoUring ?? 0 < $1.threadsToIoUring ?? 0 }
        func rates(_ c: BenchBackendCell?) -> String {
            guard let c else { return "-" }
            return "\(c.fileSystem) \(c.cell): threads \(formatNumber(c.threadsRate ?? .nan)) vs io_uring \(formatNumber(c.ioUringRate ?? .nan))"
        }
        return [
            BenchTarget(
                what: "Thread backend vs io_uring, 64 appenders of 128 B, on the disk", goal: ">= 0.8",
                measured: rates(disk64), value: disk64?.threadsToIoUring, threshold: 0.8),
            BenchTarget(
                what: "io_uring vs thread backend, worst cell of disk and tmpfs", goal: ">= 1.0",
                measured: rates(worst), value: ratioOrNil(worst?.ioUringRate, worst?.threadsRate), threshold: 1),
        ]
    }
}
