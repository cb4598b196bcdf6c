/// The latency percentiles of one measured round, nanoseconds: the journal's
/// rounds, its peers' and fio's all report these three, and the per-round
/// lines and the cells' summaries read them the same way.
struct LatencyPercentiles: Sendable {
    var p50: UInt64
    var p99: UInt64
    var p999: UInt64

    /// A round that timed nothing.
    static let none = LatencyPercentiles(p50: 0, p99: 0, p999: 0)

    init(p50: UInt64, p99: UInt64, p999: UInt64) {
        self.p50 = p50
        self.p99 = p99
        self.p999 = p999
    }

    /// The percentiles of `sorted` latencies (ascending).
    init(sorted: [UInt64]) {
        self.init(p50: percentile(sorted, 0.50), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999))
    }

    /// "p50 X us, p99 Y us", as the per-round progress lines print them.
    var microsecondsText: String {
        "p50 \(formatNumber(Double(p50) / 1000)) us, p99 \(formatNumber(Double(p99) / 1000)) us"
    }
}
