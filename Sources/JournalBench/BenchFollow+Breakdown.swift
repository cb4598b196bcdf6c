import Foundation
import JournalPrimitives

#if canImport(Glibc)
import Glibc
#endif

/// Where one run's lag comes from (`bench follow --breakdown`): whether
/// the followers keep up with the appenders or work through a backlog, and
/// how busy the process kept the machine's cores.
///
/// A follower that keeps up delivers each record shortly after the first
/// acknowledgement that covers it, with few records acknowledged but not yet
/// delivered; one that falls behind delivers records thousands behind the
/// acknowledged frontier and finishes long after the last append.
struct LagBreakdown {
    /// Per delivery: records known durable (acknowledged, or below an
    /// acknowledged one) at that moment and not yet delivered by this
    /// follower, this one included.
    var backlogRecords: [UInt64] = []
    /// Per follower: how long after the last acknowledgement it delivered
    /// its last record.
    var catchUpNanos: [UInt64] = []
    /// Lags of the first and of the last tenth of the run's records.
    var earlyLagNanos: [UInt64] = []
    var lateLagNanos: [UInt64] = []
    /// CPU time of this process (every thread) over the run, and of the
    /// in-process followers' threads.
    var processCPUSeconds = 0.0
    var followerCPUSeconds: [Double] = []
    var wallSeconds = 0.0

    /// Adds one follower's deliveries (`delivered[i]`: when LSN i + 1 was
    /// delivered, 0 if never) against the appenders' acknowledgements.
    mutating func add(delivered: [UInt64], acks: AckFrontier, known: [UInt64]) {
        let tenth = max(delivered.count / 10, 1)
        for (i, d) in delivered.enumerated() where d != 0 {
            let lsn = UInt64(i + 1)
            let frontier = acks.frontier(at: d)
            backlogRecords.append(frontier >= lsn ? frontier - lsn + 1 : 0)
            guard known[i] != .max else { continue }
            let lag = d > known[i] ? d - known[i] : 0
            if i < tenth { earlyLagNanos.append(lag) } else if i >= delivered.count - tenth { lateLagNanos.append(lag) }
        }
        let last = delivered.max() ?? 0
        catchUpNanos.append(last > acks.lastNanos ? last - acks.lastNanos : 0)
    }

    /// Several runs' breakdowns as one.
    static func merged(_ all: [LagBreakdown]) -> LagBreakdown {
        var out = LagBreakdown()
        for b in all {
            out.backlogRecords += b.backlogRecords
            out.catchUpNanos += b.catchUpNanos
            out.earlyLagNanos += b.earlyLagNanos
            out.lateLagNanos += b.lateLagNanos
            out.processCPUSeconds += b.processCPUSeconds
            out.followerCPUSeconds += b.followerCPUSeconds
            out.wallSeconds += b.wallSeconds
        }
        return out
    }

    /// The breakdown as text lines, about the followers `who` names; the
    /// CPU line if any was measured.
    func lines(_ who: String) -> [String] {
        func us(_ values: [UInt64], _ q: Double) -> String { formatNumber(Double(percentile(values.sorted(), q)) / 1e3) }
        let backlog = backlogRecords.sorted()
        let followerCPU = followerCPUSeconds.reduce(0, +)
        var out = [
            "  \(who): backlog at delivery (records known durable, not yet delivered): p50 \(percentile(backlog, 0.5)), p99 \(percentile(backlog, 0.99))",
            "  \(who): catch-up after the last acknowledgement: median \(us(catchUpNanos, 0.5)) µs, max \(us(catchUpNanos, 1))",
            "  \(who): lag p50 of the first / last tenth of the records: \(us(earlyLagNanos, 0.5)) / \(us(lateLagNanos, 0.5)) µs",
        ]
        guard wallSeconds > 0 else { return out }
        out.append(
            "  process CPU \(formatNumber(processCPUSeconds)) s over \(formatNumber(wallSeconds)) s (\(formatNumber(processCPUSeconds / wallSeconds)) cores busy), "
                + "in-process followers \(formatNumber(followerCPU)) s (\(formatNumber(followerCPU / processCPUSeconds)) of it)")
        return out
    }
}

/// The highest LSN acknowledged at each moment, from the appenders'
/// acknowledgement times by LSN.
struct AckFrontier {
    /// Acknowledgement times in order, with the highest LSN acknowledged by then.
    private let nanos: [UInt64]
    private let highest: [UInt64]
    var lastNanos: UInt64 { nanos.last ?? 0 }

    init(_ acks: [UInt64]) {
        let sorted = acks.enumerated().filter { $0.element != 0 }.sorted { $0.element < $1.element }
        nanos = sorted.map(\.element)
        var top: UInt64 = 0
        highest = sorted.map { top = max(top, UInt64($0.offset + 1)); return top }
    }

    /// The highest LSN acknowledged at or before `time` (0: none).
    func frontier(at time: UInt64) -> UInt64 {
        var low = 0, high = nanos.count
        while low < high {
            let mid = (low + high) / 2
            if nanos[mid] <= time { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? 0 : highest[low - 1]
    }
}

/// CPU time of this process, every thread (user and system).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// CPU time of this process's children that ended and were waited for.
func childrenCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_CHILDREN.rawValue), &usage)
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// CPU time of the calling thread.
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

private func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }

/// Moves the calling thread (and the threads it starts later) to
/// SCHED_FIFO at the lowest real-time priority: it runs as soon as it is
/// runnable, ahead of every ordinary thread.
func runAsRealtime() throws {
    var param = sched_param(sched_priority: 1)
    guard pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0 else {
        throw BenchError("follow: SCHED_FIFO refused (root or CAP_SYS_NICE is needed)")
    }
}
