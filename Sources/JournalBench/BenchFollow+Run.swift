import JournalPrimitives
import Foundation
import Journal
import JournalFileStorage
import JournalStorage
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One run of `bench follow`: appenders, and, if asked, followers.
struct FollowRun {
    var appendsPerSecond: Double
    var inProcessLagNanos: [UInt64] = []
    var crossProcessLagNanos: [UInt64] = []
    /// With `--breakdown`: the in-process followers' and the child's.
    var inProcessBreakdown: LagBreakdown?
    var crossProcessBreakdown: LagBreakdown?
    /// CPU time per record of this process over the run, and of the child
    /// (its start and open included).
    var cpuMicrosPerRecord = 0.0
    var childCPUMicrosPerRecord: Double?

    var cpuText: String {
        ", CPU \(formatNumber(cpuMicrosPerRecord)) µs per record" + (childCPUMicrosPerRecord.map { " (+\(formatNumber($0)) in the child)" } ?? "")
    }

    var lagText: String {
        guard !inProcessLagNanos.isEmpty else { return "" }
        let i = inProcessLagNanos.sorted(), c = crossProcessLagNanos.sorted()
        return ", lag p50/p99 in process \(formatNumber(Double(percentile(i, 0.5)) / 1e3))/\(formatNumber(Double(percentile(i, 0.99)) / 1e3)) µs"
            + ", cross-process \(formatNumber(Double(percentile(c, 0.5)) / 1e3))/\(formatNumber(Double(percentile(c, 0.99)) / 1e3)) µs"
    }

    static func measure(_ bench: BenchFollow, dir: String, withFollowers: Bool) throws -> FollowRun {
        let temp = try makeTemporaryDirectory(under: dir, prefix: "follow")
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let path = temp + "/journal"
        var storageOptions = FileSystemStorage.Options()
        storageOptions.createDirectory = true
        let storage = try FileSystemStorage(path: path, options: storageOptions)
        try Journal.create(storage: storage)
        var options = JournalOptions()
        var logger = Logger(label: "bench-follow")
        logger.logLevel = .error
        options.logger = logger
        let journal = try Journal.open(storage: storage, options: options)
        defer { journal.close() }
        if bench.settle { waitForSpareSegments(journal, count: options.spareSegments) }
        let total = bench.appenders * bench.recordsPerAppender
        let childCPUBefore = childrenCPUSeconds()
        let child = withFollowers && !bench.noCrossProcess ? try FollowChild.start(bench, path: path, timesPath: temp + "/times") : nil
        let deliveries = withFollowers ? (0..<bench.followers).map { _ in TimesByLSN(count: total) } : []
        let followerCPU = LockedValue<[Double]>([])
        let listeners = bench.listen ? try deliveries.map { try ListenedThrough(journal, last: LSN(total), times: $0) } : []
        let followerThreads = try (bench.listen ? [] : deliveries).map { times in
            let follower = try journal.follower(from: 1)
            return JoinableThread(name: "bench-follower") { [zeroCopy = bench.zeroCopy] in
                try? bench.prioritizeFollowerThread()
                try? follow(follower, zeroCopy: zeroCopy, through: LSN(total)) { times.note($0, at: monotonicNanos()) }
                let seconds = threadCPUSeconds()
                followerCPU.withLock { $0.append(seconds) }
            }
        }
        let cpuBefore = processCPUSeconds()
        let acks = TimesByLSN(count: total)
        let start = monotonicNanos()
        let appenderThreads = (0..<bench.appenders).map { _ in
            JoinableThread(name: "bench-appender") { [recordBytes = bench.recordBytes, count = bench.recordsPerAppender] in
                let payload = [UInt8](repeating: 0x5A, count: recordBytes)
                for _ in 0..<count {
                    guard let lsn = try? journal.appendBlocking(payload) else { return }
                    acks.note(lsn, at: monotonicNanos())
                }
            }
        }
        for t in appenderThreads { t.join() }
        let seconds = Double(monotonicNanos() - start) / 1e9
        for t in followerThreads { t.join() }
        for l in listeners { try l.wait() }
        let cpuSeconds = processCPUSeconds() - cpuBefore
        var run = FollowRun(appendsPerSecond: Double(total) / seconds)
        run.cpuMicrosPerRecord = cpuSeconds * 1e6 / Double(total)
        guard withFollowers else { return run }
        let known = acks.knownDurable()
        run.inProcessLagNanos = deliveries.flatMap { lags(Array($0.nanos), known) }
        let childTimes = try child?.finish(records: total)
        if let childTimes {
            run.crossProcessLagNanos = lags(childTimes, known)
            run.childCPUMicrosPerRecord = (childrenCPUSeconds() - childCPUBefore) * 1e6 / Double(total)
        }
        if bench.breakdown {
            let frontier = AckFrontier(Array(acks.nanos))
            var inProcess = LagBreakdown(processCPUSeconds: cpuSeconds, followerCPUSeconds: followerCPU.withLock { $0 },
                                         wallSeconds: Double(monotonicNanos() - start) / 1e9)
            for d in deliveries { inProcess.add(delivered: Array(d.nanos), acks: frontier, known: known) }
            run.inProcessBreakdown = inProcess
            var crossProcess = LagBreakdown()
            if let childTimes { crossProcess.add(delivered: childTimes, acks: frontier, known: known) }
            run.crossProcessBreakdown = crossProcess
        }
        return run
    }

    /// Waits (up to 10 s) until the fresh journal has prepared its spare
    /// segments: zero-filling them otherwise takes CPU at the run's start.
    private static func waitForSpareSegments(_ journal: Journal, count: Int) {
        let deadline = monotonicNanos() + 10_000_000_000
        while monotonicNanos() < deadline {
            let prepared = journal.segmentPreparation
            if prepared.zeroFilled + prepared.reused >= count { return }
            usleep(1_000)
        }
    }

    /// Delivers records to `note` through `last`, copied or zero-copy.
    static func follow(_ follower: JournalFollower, zeroCopy: Bool, through last: LSN, _ note: (LSN) -> Void) throws {
        guard zeroCopy else {
            while let r = try follower.nextBlocking() {
                note(r.lsn)
                if r.lsn >= last { return }
            }
            return
        }
        try follower.forEachBlocking { lsn, _ in
            note(lsn)
            return lsn < last
        }
    }

    private static func lags(_ delivered: [UInt64], _ known: [UInt64]) -> [UInt64] {
        zip(delivered, known).compactMap { d, k in d == 0 || k == .max ? nil : (d > k ? d - k : 0) }
    }
}

/// The follower in another process: this executable, run as
/// `bench follow --child-follow <journal> --child-times <file>`.
struct FollowChild {
    let process: Process
    let timesPath: String

    /// Starts the child and waits until it follows.
    static func start(_ bench: BenchFollow, path: String, timesPath: String) throws -> FollowChild {
        let process = Process()
        let arguments = [
            "bench", "follow", "--child-follow", path, "--child-times", timesPath,
            "--appenders", "\(bench.appenders)", "--records-per-appender", "\(bench.recordsPerAppender)",
        ] + (bench.zeroCopy ? ["--zero-copy"] : []) + (bench.listen ? ["--listen"] : [])
            + (bench.realtimeFollowers ? ["--realtime-followers"] : [])
            + (bench.followerNice.map { ["--follower-nice=\($0)"] } ?? [])
        if bench.followerSession {
            // setsid(1) forks when it leads a process group (Process makes
            // the child one) and, with --wait, exits with the status of
            // the program it ran in the new session.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
            process.arguments = ["--wait", try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            process.arguments = arguments
        }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let ready = output.fileHandleForReading.readData(ofLength: 6)
        guard String(decoding: ready, as: UTF8.self) == "ready\n" else { throw BenchError("follow: the child follower did not start") }
        return FollowChild(process: process, timesPath: timesPath)
    }

    /// Waits for the child; its delivery times by LSN.
    func finish(records: Int) throws -> [UInt64] {
        process.waitUntilExit()
        guard process.terminationStatus == 0, let data = FileManager.default.contents(atPath: timesPath),
              data.count == records * 8 else {
            throw BenchError("follow: the child follower failed (status \(process.terminationStatus))")
        }
        return data.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
    }

    /// The child's side: follow until `records` were delivered, then write
    /// their delivery times.
    static func run(path: String, records: Int, timesPath: String, zeroCopy: Bool, listen: Bool) throws {
        let reader = try Journal.openForFollowing(path: path)
        defer { reader.close() }
        let times = TimesByLSN(count: records)
        if listen {
            let listener = try ListenedThrough(reader, last: LSN(records), times: times)
            FileHandle.standardOutput.write(Data("ready\n".utf8))
            try listener.wait()
        } else {
            let follower = try reader.follower(from: 1)
            FileHandle.standardOutput.write(Data("ready\n".utf8))
            try FollowRun.follow(follower, zeroCopy: zeroCopy, through: LSN(records)) { times.note($0, at: monotonicNanos()) }
        }
        let data = Data(buffer: times.nanos)
        guard FileManager.default.createFile(atPath: timesPath, contents: data) else { throw BenchError("follow: cannot write \(timesPath)") }
    }
}
