import Foundation

/// The `follow` suite of `bench all`: `bench follow --json`, one line per
/// file system, each the summary of its rounds (lag percentiles over every
/// delivered record, the median of the paired throughput ratios).
struct BenchFollowCell {
    var fileSystem: String
    var appenders: Int?
    var followers: Int?
    var recordBytes: Int?
    /// How the followers took records: copy, zero-copy, listener.
    var delivery: String
    var inProcessP50: Double?
    var inProcessP99: Double?
    var crossProcessP50: Double?
    var crossProcessP99: Double?
    /// Appends/s with followers over appends/s without, median of rounds.
    var throughputRatio: Double?

    init(_ r: BenchRecord) {
        fileSystem = r.string("file_system") ?? "?"
        appenders = r.integer("appenders")
        followers = r.integer("followers")
        recordBytes = r.integer("record_bytes")
        delivery = r.string("delivery") ?? "copy"
        inProcessP50 = r.number("in_process_lag_p50_us")
        inProcessP99 = r.number("in_process_lag_p99_us")
        crossProcessP50 = r.number("cross_process_lag_p50_us")
        crossProcessP99 = r.number("cross_process_lag_p99_us")
        throughputRatio = r.number("throughput_ratio_followed_to_alone_median")
    }

    /// The run's summary lines, in the order printed.
    static func all(_ run: BenchRun) -> [BenchFollowCell] {
        run.suite(BenchSuiteName.follow).filter { $0.string("bench") == "follow" }.map(BenchFollowCell.init)
    }
}

extension BenchReport {
    /// The way of delivery, as the report names it.
    static func deliveryName(_ delivery: String) -> String {
        switch delivery {
        case "listener": return "listeners"
        case "zero-copy": return "zero-copy followers"
        default: return "copying followers"
        }
    }

    /// Follower lag and the followers' cost, per file system.
    func follow() -> [String] {
        let cells = BenchFollowCell.all(run)
        guard !cells.isEmpty else { return [] }
        func text(_ value: Double?) -> String { value.map { formatNumber($0) } ?? "-" }
        func count(_ value: Int?) -> String { value.map(String.init) ?? "-" }
        let rows = cells.map { c in
            [c.fileSystem, Self.deliveryName(c.delivery), count(c.appenders), count(c.followers).appending(" + 1"), count(c.recordBytes),
             text(c.inProcessP50), text(c.inProcessP99), text(c.crossProcessP50), text(c.crossProcessP99), text(c.throughputRatio)]
        }
        return [
            "## Following the log", "",
            "Lag from durability to delivery (µs) of followers in the writer's process and of one in another process "
                + "(`Journal.openForFollowing`), while the appenders run at full speed (`bench follow`). A record counts as durable "
                + "at the earliest acknowledgement of it or of a later record; percentiles are over every record each follower delivered. "
                + "The last column is appends/s with the followers over appends/s without, the median of rounds run in alternating order. "
                + "Followers copy each record from a blocking iterator on a thread of their own (`nextBlocking`); listeners "
                + "(`Journal.listen`) are handed the records by the thread that publishes their durability, in the child by its journal's tail thread.",
            "",
        ] + markdownTable(
            ["file system", "delivery", "appenders", "followers", "record B", "in-process p50", "in-process p99", "cross-process p50",
             "cross-process p99", "followed / alone"], rows) + [""]
    }
}

extension BenchTarget {
    /// The follower targets, on tmpfs: cross-process p99 lag at most 200 µs,
    /// in-process at most 50 µs, and the appenders at least 0.95 of their
    /// rate without followers.
    static func followTargets(_ run: BenchRun) -> [BenchTarget] {
        let shm = BenchFollowCell.all(run).filter { $0.fileSystem == "tmpfs" }
        // Each way of delivery measured; an empty run still lists the targets.
        return shm.isEmpty ? followTargets(nil) : shm.flatMap { followTargets($0) }
    }

    private static func followTargets(_ shm: BenchFollowCell?) -> [BenchTarget] {
        let by = shm.map { " by \(BenchReport.deliveryName($0.delivery))" } ?? ""
        func lags(_ p50: Double?, _ p99: Double?) -> String {
            shm == nil ? "-" : "p50 \(formatNumber(p50 ?? .nan)) us, p99 \(formatNumber(p99 ?? .nan)) us"
        }
        return [
            BenchTarget(
                what: "Follower lag in another process, p99, 64 appenders (tmpfs)\(by)", goal: "<= 200 us",
                measured: lags(shm?.crossProcessP50, shm?.crossProcessP99), value: shm?.crossProcessP99, threshold: 200, atMost: true),
            BenchTarget(
                what: "Follower lag in the writer's process, p99, 64 appenders (tmpfs)\(by)", goal: "<= 50 us",
                measured: lags(shm?.inProcessP50, shm?.inProcessP99), value: shm?.inProcessP99, threshold: 50, atMost: true),
            BenchTarget(
                what: "Appends/s with followers vs without, 64 appenders (tmpfs)\(by)", goal: ">= 0.95",
                measured: shm.map { "\(formatNumber($0.throughputRatio ?? .nan)) with \($0.followers.map(String.init) ?? "?") + 1 followers" } ?? "-",
                value: shm?.throughputRatio, threshold: 0.95),
        ]
    }
}
