import Foundation
import JournalCLISupport
import JournalPrimitives

/// One cell of `bench append`: a workload of ours and the fio runs beside it.
struct AppendCell: Sendable {
    enum Metric: String, Sendable {
        case commitsPerSecond = "commits_per_s"
        case megabytesPerSecond = "mb_per_s"
    }

    /// What the cell must reach, from medians measured in the same run.
    enum Target: Sendable {
        /// Commits/s at least `factor` times fio's QD1 IOPS.
        case throughputOverFioQD1(factor: Double)
        /// p99 latency at most `factor` times fio's QD1 p99.
        case p99OverFioQD1(factor: Double)
        /// MB/s at least `fraction` of fio's best bandwidth (QD1 or QD4).
        case bandwidthOverFioBest(fraction: Double)

        var text: String {
            switch self {
            case .throughputOverFioQD1(let f): ">= \(formatFactor(f))x fio QD1 IOPS"
            case .p99OverFioQD1(let f): "p99 <= \(formatFactor(f))x fio QD1 p99"
            case .bandwidthOverFioBest(let f): ">= \(Int((f * 100).rounded()))% fio best MB/s"
            }
        }
    }

    let name: String
    let metric: Metric
    let recordBytes: Int
    let appenders: Int
    /// Appends each appender keeps outstanding: 1 waits for each append
    /// (`appendBlocking` / `append`); more pipelines `enqueue` and
    /// `waitUntilDurable` (the window's oldest), as a log writer that
    /// acknowledges asynchronously does.
    var window = 1
    /// fio's block size beside this cell (a 128 B commit is one 4 KiB block write).
    let fioBlockBytes: Int
    let target: Target?

    /// The cells of the issue: commits/s for 1, 4, 16, 64 appenders of 128 B
    /// records; MB/s for 4 KiB, 64 KiB and 1 MiB records.
    static func all(bulkAppenders: Int) -> [AppendCell] {
        var cells: [AppendCell] = []
        for n in [1, 4, 16, 64] {
            let target: Target? = switch n {
            case 1: .p99OverFioQD1(factor: 1.5)
            case 64: .throughputOverFioQD1(factor: 8)
            default: nil
            }
            cells.append(AppendCell(
                name: "append-128B-\(n)", metric: .commitsPerSecond, recordBytes: 128, appenders: n,
                fioBlockBytes: 4096, target: target))
        }
        cells.append(AppendCell(
            name: "append-128B-64-pipelined", metric: .commitsPerSecond, recordBytes: 128, appenders: 64,
            window: pipelineWindow, fioBlockBytes: 4096, target: nil))
        for size in [4 << 10, 64 << 10, 1 << 20] {
            cells.append(AppendCell(
                name: "append-\(formatSize(size))-\(bulkAppenders)", metric: .megabytesPerSecond, recordBytes: size,
                appenders: bulkAppenders, fioBlockBytes: size,
                target: size == 1 << 20 ? .bandwidthOverFioBest(fraction: 0.9) : nil))
        }
        return cells
    }

    /// Outstanding appends per appender in the pipelined cell.
    static let pipelineWindow = 16

    /// Size of fio's preallocated file: room for a few hundred blocks.
    var fioFileBytes: Int { min(max(64 << 20, fioBlockBytes * 256), 256 << 20) }
}

/// A cell's measured rounds.
struct AppendCellResult: Sendable {
    let cell: AppendCell
    var ours: [AppendRound] = []
    var fioQD1: [FioRound] = []
    var fioQD4: [FioRound] = []
    var fioCommandLines: [String] = []
    /// The hand-written pwrite + fdatasync group commit, same appenders and records.
    var pwrite: [AppendRound] = []
    /// SQLite WAL, one insert per commit, synchronous=FULL and NORMAL (128 B cells).
    var sqliteFull: [AppendRound] = []
    var sqliteNormal: [AppendRound] = []
    /// The blocking API on the same journal, each round right after ours
    /// (the async API's): the `blocking` peer.
    var blocking: [AppendRound] = []

    func oursValue(_ r: AppendRound) -> Double {
        cell.metric == .commitsPerSecond ? r.perSecond : r.megabytesPerSecond
    }

    func fioValue(_ r: FioRound) -> Double {
        cell.metric == .commitsPerSecond ? r.iops : r.megabytesPerSecond
    }

    var oursSummary: Summary { Summary(ours.map(oursValue)) }
    var fioQD1Summary: Summary { Summary(fioQD1.map(fioValue)) }
    var fioQD4Summary: Summary { Summary(fioQD4.map(fioValue)) }

    var ratioQD1: Double { ratio(oursSummary.median, fioQD1Summary.median) }
    var ratioQD4: Double { ratio(oursSummary.median, fioQD4Summary.median) }
    /// Ratios of the rounds taken side by side (round i of ours over round i of fio).
    var pairedRatiosQD1: Summary { Summary(zip(ours, fioQD1).map { ratio(oursValue($0), fioValue($1)) }) }
    var oursP50: Summary { Summary(ours.map { Double($0.latency.p50) / 1000 }) }
    var oursP99: Summary { Summary(ours.map { Double($0.latency.p99) / 1000 }) }
    var oursP999: Summary { Summary(ours.map { Double($0.latency.p999) / 1000 }) }
    var fioQD1P50: Summary { Summary(fioQD1.map { Double($0.latency.p50) / 1000 }) }
    var fioQD1P99: Summary { Summary(fioQD1.map { Double($0.latency.p99) / 1000 }) }
    var fioQD4P50: Summary { Summary(fioQD4.map { Double($0.latency.p50) / 1000 }) }
    var fioQD4P99: Summary { Summary(fioQD4.map { Double($0.latency.p99) / 1000 }) }
    var p99RatioQD1: Double { ratio(oursP99.median, fioQD1P99.median) }

    /// A peer's rounds measured like ours: median and range, p50/p99 (us).
    func peerSummary(_ rounds: [AppendRound]) -> (value: Summary, p50: Summary, p99: Summary) {
        (Summary(rounds.map(oursValue)), Summary(rounds.map { Double($0.latency.p50) / 1000 }), Summary(rounds.map { Double($0.latency.p99) / 1000 }))
    }

    /// The ratio the target is judged on.
    var targetRatio: Double? {
        switch cell.target {
        case .none: nil
        case .throughputOverFioQD1: ratioQD1
        case .p99OverFioQD1: p99RatioQD1
        case .bandwidthOverFioBest: ratio(oursSummary.median, max(fioQD1Summary.median, fioQD4Summary.median))
        }
    }

    var met: Bool? {
        guard let r = targetRatio, r.isFinite else { return cell.target == nil ? nil : false }
        switch cell.target {
        case .none: return nil
        case .throughputOverFioQD1(let f): return r >= f
        case .p99OverFioQD1(let f): return r <= f
        case .bandwidthOverFioBest(let f): return r >= f
        }
    }
}

/// Median and range of a few rounds.
struct Summary: Sendable {
    var median: Double
    var min: Double
    var max: Double

    init(_ values: [Double]) {
        let s = values.sorted()
        guard let first = s.first, let last = s.last else {
            self.median = .nan
            self.min = .nan
            self.max = .nan
            return
        }
        let mid = s.count / 2
        median = s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
        min = first
        max = last
    }
}

func ratio(_ a: Double, _ b: Double) -> Double { b > 0 ? a / b : .nan }

func formatSize(_ bytes: Int) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20)MiB" }
    if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10)KiB" }
    return "\(bytes)B"
}

func formatFactor(_ f: Double) -> String {
    f == f.rounded() ? String(Int(f)) : String(format: "%.2g", f)
}

/// A number for people: three significant figures, or more for large values.
func formatNumber(_ x: Double) -> String {
    guard x.isFinite else { return "-" }
    let a = abs(x)
    if a >= 1000 { return String(format: "%.0f", x) }
    if a >= 100 { return String(format: "%.1f", x) }
    if a >= 10 { return String(format: "%.2f", x) }
    return String(format: "%.3f", x)
}

// MARK: JSON lines

enum JSONValue {
    case string(String)
    case number(Double)
    case integer(Int)
    case bool(Bool)
    case null

    var text: String {
        switch self {
        case .string(let s):
            return JSON.quote(s)
        case .number(let x):
            guard x.isFinite else { return "null" }
            let rounded = (x * 1000).rounded() / 1000
            return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int(rounded)) : "\(rounded)"
        case .integer(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }
}

/// One JSON object on one line, keys in the given order.
func jsonLine(_ fields: [(String, JSONValue)]) -> String {
    "{" + fields.map { JSONValue.string($0.0).text + ":" + $0.1.text }.joined(separator: ",") + "}"
}

extension AppendCellResult {
    func jsonFields(api: AppendAPI, fileSystem: String, seconds: Double) -> [(String, JSONValue)] {
        let o = oursSummary, q1 = fioQD1Summary, q4 = fioQD4Summary, pr = pairedRatiosQD1
        var fields: [(String, JSONValue)] = [
            ("cell", .string(cell.name)),
            ("metric", .string(cell.metric.rawValue)),
            ("api", .string(api.rawValue)),
            ("appenders", .integer(cell.appenders)),
            ("record_bytes", .integer(cell.recordBytes)),
            ("fio_bs", .integer(cell.fioBlockBytes)),
            ("file_system", .string(fileSystem)),
            ("rounds", .integer(ours.count)),
            ("seconds", .number(seconds)),
            ("ours", .number(o.median)), ("ours_min", .number(o.min)), ("ours_max", .number(o.max)),
            ("ours_p50_us", .number(oursP50.median)), ("ours_p99_us", .number(oursP99.median)),
            ("ours_p99_us_min", .number(oursP99.min)), ("ours_p99_us_max", .number(oursP99.max)),
            ("ours_p999_us", .number(oursP999.median)),
            ("fio_qd1", .number(q1.median)), ("fio_qd1_min", .number(q1.min)), ("fio_qd1_max", .number(q1.max)),
            ("fio_qd1_p50_us", .number(fioQD1P50.median)), ("fio_qd1_p99_us", .number(fioQD1P99.median)),
            ("fio_qd4", .number(q4.median)), ("fio_qd4_min", .number(q4.min)), ("fio_qd4_max", .number(q4.max)),
            ("fio_qd4_p50_us", .number(fioQD4P50.median)), ("fio_qd4_p99_us", .number(fioQD4P99.median)),
            ("ratio_qd1", .number(ratioQD1)), ("ratio_qd1_paired_min", .number(pr.min)), ("ratio_qd1_paired_max", .number(pr.max)),
            ("ratio_qd4", .number(ratioQD4)),
            ("p99_ratio_qd1", .number(p99RatioQD1)),
        ]
        if cell.metric == .commitsPerSecond {
            fields.insert(("ours_mb_per_s", .number(Summary(ours.map(\.megabytesPerSecond)).median)), at: 12)
        }
        for (name, rounds) in [("blocking", blocking), ("pwrite", pwrite), ("sqlite_full", sqliteFull), ("sqlite_normal", sqliteNormal)] where !rounds.isEmpty {
            let (v, p50, p99) = peerSummary(rounds)
            fields += [
                (name, .number(v.median)), ("\(name)_min", .number(v.min)), ("\(name)_max", .number(v.max)),
                ("\(name)_p50_us", .number(p50.median)), ("\(name)_p99_us", .number(p99.median)),
                ("ratio_\(name)", .number(ratio(o.median, v.median))),
            ]
        }
        if !blocking.isEmpty {
            // The async API's p50 over the blocking API's, medians of the same rounds.
            fields.append(("p50_ratio_blocking", .number(ratio(oursP50.median, peerSummary(blocking).p50.median))))
        }
        if cell.window > 1 { fields.append(("window", .integer(cell.window))) }
        fields.append(("target", cell.target.map { .string($0.text) } ?? .null))
        fields.append(("target_ratio", targetRatio.map { .number($0) } ?? .null))
        fields.append(("met", met.map { .bool($0) } ?? .null))
        return fields
    }
}

// MARK: The table

extension AppendCellResult {
    /// A peer's median and our ratio to it, or "-" when it did not run.
    func peerText(_ rounds: [AppendRound]) -> String {
        guard !rounds.isEmpty else { return "-" }
        let v = peerSummary(rounds).value.median
        return "\(formatNumber(v)) (\(formatNumber(ratio(oursSummary.median, v)))x)"
    }
}

func renderTable(_ results: [AppendCellResult]) -> String {
    let header = ["cell", "metric", "ours median [min-max]", "p50/p99 us", "fio QD1 median [min-max]", "fio QD1 p50/p99 us", "fio QD4 median", "ratio QD1 (QD4)", "blocking API (ratio)", "pwrite loop (ratio)", "SQLite FULL (ratio)", "SQLite NORMAL (ratio)", "target", "met?"]
    var rows: [[String]] = [header]
    for r in results {
        let o = r.oursSummary, q1 = r.fioQD1Summary, q4 = r.fioQD4Summary
        let unit = r.cell.metric == .commitsPerSecond ? "commits/s" : "MB/s"
        let ratioText: String
        switch r.cell.target {
        case .p99OverFioQD1: ratioText = "\(formatNumber(r.ratioQD1))x; p99 \(formatNumber(r.p99RatioQD1))x"
        case .bandwidthOverFioBest: ratioText = "\(formatNumber(r.ratioQD1))x (\(formatNumber(r.ratioQD4))x)"
        default: ratioText = "\(formatNumber(r.ratioQD1))x (\(formatNumber(r.ratioQD4))x)"
        }
        rows.append([
            r.cell.name, unit,
            "\(formatNumber(o.median)) [\(formatNumber(o.min))-\(formatNumber(o.max))]",
            "\(formatNumber(r.oursP50.median))/\(formatNumber(r.oursP99.median))",
            "\(formatNumber(q1.median)) [\(formatNumber(q1.min))-\(formatNumber(q1.max))]",
            "\(formatNumber(r.fioQD1P50.median))/\(formatNumber(r.fioQD1P99.median))",
            formatNumber(q4.median),
            ratioText,
            r.peerText(r.blocking), r.peerText(r.pwrite), r.peerText(r.sqliteFull), r.peerText(r.sqliteNormal),
            r.cell.target?.text ?? "-",
            r.met.map { $0 ? "yes" : "NO" } ?? "-",
        ])
    }
    var widths = [Int](repeating: 0, count: header.count)
    for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
    var lines: [String] = []
    for (n, row) in rows.enumerated() {
        lines.append(row.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces))
        if n == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
    }
    return lines.joined(separator: "\n")
}
