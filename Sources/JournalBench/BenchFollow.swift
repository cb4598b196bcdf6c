import JournalPrimitives
import ArgumentParser
import Foundation
import Journal
import JournalFileStorage
import JournalStorage
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift bench follow`: how long a follower takes to see a
/// record once it is durable, in the writer's process and in another, and
/// what following costs the appenders.
///
/// Each round runs two configurations, in alternating order: `--appenders`
/// threads append `--records-per-appender` records each with no follower,
/// then with `--followers` followers in the writer's process and one in a
/// child process (`Journal.openForFollowing`). Lag is measured per record:
/// a record is known durable at the earliest moment an appender of it or of
/// a later record got its acknowledgement (durability of an LSN implies it
/// for every LSN below); its lag is the moment a follower delivered it minus
/// that one (clamped at 0: a follower may be woken before any appender is).
/// The clock is CLOCK_MONOTONIC, shared by the processes.
struct BenchFollow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Follower lag (durability to delivery) in this process and another, and the followers' cost to appenders.")

    @Option(help: "Directory for the journal (the file system measured; tmpfs for the issue's targets). Repeat it to measure several file systems in turn, one summary each.")
    var dir: [String] = ["/dev/shm/bench-follow"]

    @Option(help: "Appending threads.")
    var appenders = 64

    @Option(help: "Records each appender appends per run.")
    var recordsPerAppender = 2_000

    @Option(help: "Followers in the writer's process (the child process adds one more).")
    var followers = 4

    @Option(help: "Record payload bytes.")
    var recordBytes = 256

    @Option(help: "Rounds, each running both configurations.")
    var rounds = 3

    @Flag(help: "One JSON object per line.")
    var json = false

    @Flag(help: "Followers read zero-copy (forEachBlocking) rather than copying each record (nextBlocking).")
    var zeroCopy = false

    @Flag(help: "Followers are listeners (Journal.listen): the thread that publishes a durable LSN hands them its records, with no wake-up; in the child, its journal's tail thread does.")
    var listen = false

    @Flag(help: "After each file system's runs with the followers asked for, run them again with listeners (as --listen): one summary for each way of delivery.")
    var alsoListen = false

    @Flag(help: "Also print where the lag comes from: each follower's backlog, its catch-up after the appenders, the process's CPU.")
    var breakdown = false

    @Flag(help: "Start appending once each fresh journal has prepared its spare segments (their zero-filling otherwise overlaps the start of the run).")
    var settle = false

    /// A diagnosis, not a configuration to measure targets with: whether
    /// the lag is CPU work or time spent runnable but not running.
    @Flag(help: "Run the followers (and the child process) under SCHED_FIFO, ahead of every ordinary thread of the machine: the lag that remains is their own work, not their wait for a core.")
    var realtimeFollowers = false

    @Option(help: "Nice value of the followers' threads (and the child's), -20...19: a milder priority than --realtime-followers.")
    var followerNice: Int?

    @Flag(help: "Start the follower in a child process in a session of its own (setsid), as a separate service runs: the scheduler then weighs it as one group against the writer's process, not as one thread among the appenders.")
    var followerSession = false

    /// Without the follower in a child process (under valgrind, which
    /// cannot start this executable again): in-process followers only.
    @Flag(name: .customLong("no-cross-process"), help: .hidden)
    var noCrossProcess = false

    @Option(help: .hidden)
    var childFollow: String?

    @Option(help: .hidden)
    var childTimes: String?

    func validate() throws {
        guard appenders >= 1 && recordsPerAppender >= 1 && followers >= 0 && rounds >= 1 else {
            throw ValidationError("--appenders, --records-per-appender and --rounds must be positive")
        }
        guard recordBytes >= 8 && recordBytes <= 1 << 20 else { throw ValidationError("--record-bytes must be in 8...1048576") }
        if let followerNice, !(-20...19).contains(followerNice) { throw ValidationError("--follower-nice must be in -20...19") }
    }

    func run() throws {
        if let path = childFollow, let times = childTimes {
            try prioritizeFollowerThread()
            try FollowChild.run(path: path, records: appenders * recordsPerAppender, timesPath: times, zeroCopy: zeroCopy, listen: listen)
            return
        }
        for dir in self.dir {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try measure(dir: dir)
            if alsoListen && !listen {
                var listening = self
                listening.listen = true
                try listening.measure(dir: dir)
            }
        }
    }

    /// The rounds on one file system, then their summary (and breakdown).
    private func measure(dir: String) throws {
        var plain: [Double] = []
        var followed: [FollowRun] = []
        for round in 1...rounds {
            for withFollowers in round % 2 == 1 ? [false, true] : [true, false] {
                let r = try FollowRun.measure(self, dir: dir, withFollowers: withFollowers)
                if withFollowers { followed.append(r) } else { plain.append(r.appendsPerSecond) }
                progress("  round \(round) \(withFollowers ? "followed" : "alone   "): \(formatNumber(r.appendsPerSecond)) appends/s" + r.lagText + (breakdown ? r.cpuText : ""))
            }
        }
        report(dir: dir, plain: plain, followed: followed)
        if breakdown {
            let lines = LagBreakdown.merged(followed.compactMap(\.inProcessBreakdown)).lines("in process")
                + LagBreakdown.merged(followed.compactMap(\.crossProcessBreakdown)).lines("cross-process")
            // After the summary; with --json, on stderr as the progress.
            for line in lines { progress(line) }
        }
    }

    /// A progress line: on stdout, or with --json on stderr (bench all shows it).
    private func progress(_ line: String) {
        if json { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) }
    }

    /// Gives the calling follower thread the priority asked for, if any
    /// (threads it starts later inherit it). On Linux, `setpriority` of
    /// process 0 sets the calling thread's nice value alone.
    func prioritizeFollowerThread() throws {
        if realtimeFollowers { try runAsRealtime() }
        if let followerNice, setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(followerNice)) != 0 {
            throw BenchError("follow: nice \(followerNice) refused (errno \(errno))")
        }
    }

    private func report(dir: String, plain: [Double], followed: [FollowRun]) {
        let inProcess = followed.flatMap(\.inProcessLagNanos).sorted()
        let crossProcess = followed.flatMap(\.crossProcessLagNanos).sorted()
        let ratios = zip(followed.map(\.appendsPerSecond), plain).map { $0 / $1 }.sorted()
        let medianRatio = ratios.isEmpty ? .nan : ratios[ratios.count / 2]
        let fields: [(String, JSONValue)] = [
            ("bench", .string("follow")), ("file_system", .string(fileSystemType(dir))),
            ("appenders", .integer(appenders)), ("followers", .integer(followers)), ("record_bytes", .integer(recordBytes)),
            ("delivery", .string(listen ? "listener" : zeroCopy ? "zero-copy" : "copy")),
            ("in_process_lag_p50_us", .number(Double(percentile(inProcess, 0.5)) / 1e3)),
            ("in_process_lag_p99_us", .number(Double(percentile(inProcess, 0.99)) / 1e3)),
            ("cross_process_lag_p50_us", .number(Double(percentile(crossProcess, 0.5)) / 1e3)),
            ("cross_process_lag_p99_us", .number(Double(percentile(crossProcess, 0.99)) / 1e3)),
            ("throughput_ratio_followed_to_alone_median", .number(medianRatio)),
        ]
        if json {
            print(jsonLine(fields))
            return
        }
        print("follow on \(fileSystemType(dir)), \(appenders) appenders, \(recordBytes) B records, \(rounds) rounds, "
            + (listen ? "listeners:" : zeroCopy ? "zero-copy followers:" : "copying followers:"))
        print("  lag in process:    p50 \(formatNumber(Double(percentile(inProcess, 0.5)) / 1e3)) µs, p99 \(formatNumber(Double(percentile(inProcess, 0.99)) / 1e3)) µs (target p99 ≤ 50 µs)")
        print("  lag cross-process: p50 \(formatNumber(Double(percentile(crossProcess, 0.5)) / 1e3)) µs, p99 \(formatNumber(Double(percentile(crossProcess, 0.99)) / 1e3)) µs (target p99 ≤ 200 µs)")
        print("  appends/s with \(followers)+1 followers over alone, median of paired rounds: \(formatNumber(medianRatio)) (target ≥ 0.95)")
    }
}

/// Acknowledgement or delivery times by LSN, written by many threads, each
/// index by one of them.
final class TimesByLSN: @unchecked Sendable {
    // @unchecked: each slot is written by one thread, read after joins.
    let nanos: UnsafeMutableBufferPointer<UInt64>

    init(count: Int) {
        nanos = .allocate(capacity: count)
        nanos.initialize(repeating: 0)
    }

    deinit { nanos.deallocate() }

    func note(_ lsn: LSN, at time: UInt64) { nanos[Int(lsn) - 1] = time }

    /// When each LSN was known durable: the earliest acknowledgement of it
    /// or of a later LSN.
    func knownDurable() -> [UInt64] {
        var out = Array(nanos)
        var earliest = UInt64.max
        for i in out.indices.reversed() {
            if out[i] != 0 { earliest = min(earliest, out[i]) }
            out[i] = earliest
        }
        return out
    }
}

extension BenchAll {
    /// `bench follow` on tmpfs (the issue's targets) and on the disk, with
    /// the default 64 appenders; `--quick` runs one short round of each.
    func followPlan(executable: String) -> Plan {
        let dirs = [shmDir + "-follow", dir + "/follow"]
        var arguments = [executable, "bench", "follow", "--json", "--also-listen"] + dirs.flatMap { ["--dir", $0] }
        arguments += quick ? ["--rounds", "1", "--records-per-appender", "200"] : ["--rounds", String(rounds)]
        return Plan(name: BenchSuiteName.follow, arguments: arguments, dir: dirs[0])
    }
}
