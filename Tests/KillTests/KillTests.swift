import Foundation
import Journal
import TestSupport
import JournalFileStorage
import JournalPrimitives
import Testing

#if canImport(Glibc)
import Glibc
#endif

// `journalctl-swift append` killed with SIGKILL at random moments.
//
// Each kill: a journal on the disk (/tmp) or on tmpfs (/dev/shm), fresh or
// continuing one whose last writer was killed (so its open recovers a killed
// writer's tail); a child `append` fed unique records through a pipe while a
// thread collects the LSNs it prints; SIGKILL immediately, a random delay
// after the spawn (while it starts and recovers), or a random delay (0-40 ms)
// after it printed its first or a random number of LSNs (mid-stream); then
// the journal is replayed and checked:
//
// - every LSN the child printed is in the journal, holding the record fed
//   at that position (the first printed LSN is the first record's; the rest
//   follow in input order);
// - every record in the journal was fed, and the journal is, run by run, a
//   prefix of what each run fed: LSNs dense, each run's records in input
//   order without gaps, runs in order;
// - the child died of our SIGKILL, or exited 0 after reading all its input:
//   any other end (a crash, "locked": exit 75) fails.
//
// When a journal is retired, an `append` run to completion on it proves the
// killed writers released the lock and left a journal that takes appends.
//
// KILL_TEST_SEED=<n> replays a run (the seed is in every failure message);
// KILL_TEST_KILLS=<n> changes the number of kills (default 60): runs go on
// until that many children died of SIGKILL.
//
// How many children finish their input before the kill lands depends on
// the schedule (a loaded machine oversleeps the delays while the child
// runs on), so the runs are bounded by a count far above any share of them
// that finishes first, and the time limit only catches a hang: the test
// takes about a minute, several times that under load or a sanitizer.

@Suite("SIGKILL during append")
struct KillTests {
    @Test(.timeLimit(.minutes(30)))
    func everyPrintedLSNSurvivesSIGKILL() throws {
        try Self.run(prefix: [], defaultKills: 60)
    }

    /// The same on a host that denies io_uring (the thread backend), as
    /// under a container's seccomp profile: fewer kills, the guarantee is
    /// the same.
    @Test(.timeLimit(.minutes(30)))
    func everyPrintedLSNSurvivesSIGKILLWithoutIOUring() throws {
        guard let deny = Executable.denyIOUring else {
            Issue.record("seccomp-deny-io-uring not found beside journalctl-swift; build it (swift build)")
            return
        }
        try Self.run(prefix: [deny], defaultKills: 20)
    }

    static func run(prefix: [String], defaultKills: Int) throws {
        guard let executable = Executable.journalctl else {
            Issue.record(Comment(rawValue: ChildError.missingExecutable.description))
            return
        }
        signal(SIGPIPE, SIG_IGN)  // a feeder writing to a killed child gets EPIPE
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["KILL_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let kills = environment["KILL_TEST_KILLS"].flatMap { Int($0) } ?? defaultKills
        var harness = try KillHarness(executable: executable, prefix: prefix, seed: seed)
        defer { harness.removeJournals() }
        let started = Date()
        // Until `kills` children died of SIGKILL (some finish their input
        // before the kill lands), within 20 times as many runs.
        var iteration = 0
        while harness.stats.sigkilled < kills && iteration < 20 * kills && !harness.failed {
            try harness.killOnce(iteration)
            iteration += 1
        }
        if !harness.failed { try harness.retireAll() }
        let seconds = Date().timeIntervalSince(started)
        let under = prefix.isEmpty ? "" : " under \(prefix.map { URL(fileURLWithPath: $0).lastPathComponent })"
        print("kill test\(under) (seed \(seed)): \(harness.summary) in \(String(format: "%.1f", seconds)) s")
        #expect(harness.failed || harness.stats.sigkilled >= kills, "\(kills) children should have died of SIGKILL (seed \(seed)): \(harness.summary)")
    }
}

/// What was fed to one journal, run by run.
final class JournalModel {
    let path: String
    let fileSystem: String
    /// Records fed by each run on this journal, in order.
    var runs: [[String]] = []
    /// Where each fed record came from: (run, index in run).
    var origin: [String: (run: Int, index: Int)] = [:]
    /// Records the children printed the LSN of: they must survive.
    var acknowledged: [LSN: String] = [:]

    init(path: String, fileSystem: String) {
        self.path = path
        self.fileSystem = fileSystem
    }
}

struct Stats {
    var kills = 0
    var sigkilled = 0
    var finished = 0
    var acknowledged = 0
    var killedBeforeFirstLSN = 0
    var journals = 0
    var continued = 0
    var tornTailsSeen = 0
}

enum KillMoment: CustomStringConvertible {
    /// As soon as the child is spawned (it may not have run at all).
    case immediately
    /// A random delay after the spawn: while it starts, opens, recovers.
    case afterSpawn(microseconds: UInt32)
    /// A random delay after it printed `lsns` LSNs: mid-stream.
    case afterPrinting(lsns: Int, thenMicroseconds: UInt32)

    var description: String {
        switch self {
        case .immediately: "immediately"
        case .afterSpawn(let us): "\(us) us after the spawn"
        case .afterPrinting(let n, let us): "\(us) us after \(n) LSNs"
        }
    }
}

struct KillHarness {
    let executable: String
    /// A program (and its arguments) the child runs under, e.g. the seccomp
    /// filter; it execs the CLI, so the kill reaches the CLI itself.
    let prefix: [String]
    let seed: UInt64
    var random: SplitMix64
    /// The journal in use on each file system.
    var current: [String: JournalModel] = [:]
    var retired: [JournalModel] = []
    var stats = Stats()
    var failed = false
    let scratch: String

    static let fileSystems = ["/tmp", "/dev/shm"]

    init(executable: String, prefix: [String] = [], seed: UInt64) throws {
        self.executable = executable
        self.prefix = prefix
        self.seed = seed
        self.random = SplitMix64(seed: seed)
        scratch = NSTemporaryDirectory() + "/kill-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    var summary: String {
        "\(stats.kills) runs on \(stats.journals) journals (\(stats.continued) continuing a killed writer's journal): "
            + "\(stats.sigkilled) died of SIGKILL (\(stats.killedBeforeFirstLSN) before printing any LSN), \(stats.finished) finished first; "
            + "\(stats.acknowledged) acknowledged records checked; \(stats.tornTailsSeen) recoveries cut a tail"
    }

    mutating func fail(_ message: String, iteration: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let at = iteration.map { ", iteration \($0)" } ?? ""
        Issue.record(Comment(rawValue: "\(message) [KILL_TEST_SEED=\(seed)\(at)]"), sourceLocation: sourceLocation)
        failed = true
    }

    // MARK: One kill

    mutating func killOnce(_ iteration: Int) throws {
        // A quarter of the runs on tmpfs, the rest on the disk.
        let fileSystem = random.next(below: 4) == 0 ? Self.fileSystems[1] : Self.fileSystems[0]
        let journal: JournalModel
        if let existing = current[fileSystem], random.next(below: 4) != 0 {
            journal = existing
            stats.continued += 1
        } else {
            if let existing = current[fileSystem] { try retire(existing) }
            journal = try makeJournal(on: fileSystem)
            current[fileSystem] = journal
        }
        let run = journal.runs.count
        let records = makeRecords(iteration: iteration)
        journal.runs.append(records)
        for (i, r) in records.enumerated() { journal.origin[r] = (run, i) }
        let nextBefore = try Journal.openForReading(path: journal.path).nextLSN

        let moment: KillMoment
        switch random.next(below: 10) {
        case 0: moment = .immediately
        case 1: moment = .afterSpawn(microseconds: UInt32(random.next(below: 30_000)))
        case 2...5: moment = .afterPrinting(lsns: 1, thenMicroseconds: UInt32(random.next(below: 40_000)))
        default: moment = .afterPrinting(lsns: 1 + Int(random.next(below: UInt64(min(records.count, 600)))), thenMicroseconds: UInt32(random.next(below: 5_000)))
        }
        let context = "\(journal.path) run \(run), \(records.count) records, kill \(moment)"
        let outcome = try runAppend(journal: journal.path, records: records, moment: moment)
        stats.kills += 1

        switch outcome.end {
        case .killed:
            stats.sigkilled += 1
        case .exited(0) where outcome.wroteAllInput:
            stats.finished += 1
        case .exited(let status):
            fail("append exited with status \(status) (\(context)); stderr: \(outcome.stderr)", iteration: iteration)
        case .signalled(let signal):
            fail("append died of signal \(signal), not our SIGKILL (\(context)); stderr: \(outcome.stderr)", iteration: iteration)
        }

        // The LSNs printed, in order, each by one whole line.
        guard let printed = parseLSNs(outcome.stdout) else {
            fail("append printed something other than LSNs (\(context)): \(String(decoding: outcome.stdout, as: UTF8.self).prefix(200))", iteration: iteration)
            return
        }
        if printed.isEmpty { stats.killedBeforeFirstLSN += outcome.end == .killed ? 1 : 0 }
        if case .exited(0) = outcome.end, printed.count != records.count {
            fail("append exited 0 but printed \(printed.count) LSNs for \(records.count) records (\(context))", iteration: iteration)
        }
        if let first = printed.first {
            if first < nextBefore {
                fail("the first LSN printed, \(first), is below the journal's next LSN \(nextBefore) before the run (\(context))", iteration: iteration)
            }
            for (i, lsn) in printed.enumerated() {
                guard lsn == first + LSN(i) else {
                    fail("LSNs printed out of order: \(lsn) at position \(i) after \(first) (\(context))", iteration: iteration)
                    return
                }
                guard i < records.count else {
                    fail("append printed \(printed.count) LSNs for \(records.count) records (\(context))", iteration: iteration)
                    return
                }
                journal.acknowledged[lsn] = records[i]
            }
            stats.acknowledged += printed.count
        }
        try check(journal, context: context, iteration: iteration)
    }

    /// Replays the journal and checks it against everything fed to it.
    mutating func check(_ journal: JournalModel, context: String, iteration: Int?) throws {
        let reader: Journal
        do {
            reader = try Journal.openForReading(path: journal.path)
        } catch {
            fail("the journal does not open after the kill: \(error) (\(context))", iteration: iteration)
            return
        }
        if reader.recoveryReport.outcome == .tornTailCut { stats.tornTailsSeen += 1 }
        var found: [LSN: String] = [:]
        var previous: (lsn: LSN, run: Int, index: Int)?
        var problems: [String] = []
        try reader.forEachRecord(from: 1) { lsn, bytes in
            let payload = String(decoding: bytes, as: UTF8.self)
            found[lsn] = payload
            guard let (run, index) = journal.origin[payload] else {
                problems.append("LSN \(lsn) holds a record never fed: \(payload.prefix(80))")
                return false
            }
            if let p = previous {
                let follows = (run == p.run && index == p.index + 1) || (run > p.run && index == 0)
                if lsn != p.lsn + 1 || !follows {
                    problems.append("LSN \(lsn) holds run \(run) record \(index) after LSN \(p.lsn) with run \(p.run) record \(p.index): not a prefix of each run in order")
                    return false
                }
            } else if index != 0 {
                problems.append("the journal starts with run \(run) record \(index), not a run's first record")
                return false
            }
            previous = (lsn, run, index)
            return true
        }
        for (lsn, record) in journal.acknowledged.sorted(by: { $0.key < $1.key }) where problems.count < 5 {
            guard let payload = found[lsn] else {
                problems.append("acknowledged LSN \(lsn) (\(record.prefix(40))) is missing; the journal holds LSN \(reader.oldestLSN)...\(reader.durableLSN)")
                continue
            }
            if payload != record {
                problems.append("acknowledged LSN \(lsn) holds \(payload.prefix(40)), not \(record.prefix(40))")
            }
        }
        for problem in problems.prefix(5) {
            fail("\(problem) (\(context); recovery: \(reader.recoveryReport))", iteration: iteration)
        }
    }

    // MARK: Journals

    mutating func makeJournal(on fileSystem: String) throws -> JournalModel {
        let path = "\(fileSystem)/kill-test-\(seed)-\(UUID().uuidString.prefix(8))/journal"
        var configuration = JournalConfiguration()
        configuration.segmentBytes = 1 << 20
        configuration.recordBytesMax = 128 << 10
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Journal.create(path: path, configuration: configuration)
        stats.journals += 1
        return JournalModel(path: path, fileSystem: fileSystem)
    }

    /// Appends a few records to completion: the killed writers released the
    /// lock and the journal takes appends; then checks the whole journal.
    mutating func retire(_ journal: JournalModel) throws {
        let run = journal.runs.count
        let records = (0..<3).map { "final-\(run)-\($0)-\(random.next(below: 1 << 32))" }
        journal.runs.append(records)
        for (i, r) in records.enumerated() { journal.origin[r] = (run, i) }
        let context = "\(journal.path): append to completion after \(run) killed runs"
        let outcome = try runAppend(journal: journal.path, records: records, moment: nil)
        guard case .exited(0) = outcome.end else {
            fail("append after the kills ended with \(outcome.end) (\(context)); stderr: \(outcome.stderr)")
            return
        }
        let printed = parseLSNs(outcome.stdout) ?? []
        guard printed.count == records.count, let first = printed.first, printed == (0..<3).map({ first + LSN($0) }) else {
            fail("append after the kills printed \(String(decoding: outcome.stdout, as: UTF8.self)) for 3 records (\(context))")
            return
        }
        for (i, lsn) in printed.enumerated() { journal.acknowledged[lsn] = records[i] }
        try check(journal, context: context, iteration: nil)
        retired.append(journal)
    }

    mutating func retireAll() throws {
        for fileSystem in Self.fileSystems {
            if let journal = current.removeValue(forKey: fileSystem) { try retire(journal) }
        }
    }

    func removeJournals() {
        for journal in retired + Array(current.values) {
            try? FileManager.default.removeItem(atPath: (journal.path as NSString).deletingLastPathComponent)
        }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    // MARK: Records

    /// Unique records, mostly short, some spanning pages (32 KiB) and a few
    /// near the maximum size, so batches, fragments and segment rollover
    /// (1 MiB segments) all happen while the child is killed.
    mutating func makeRecords(iteration: Int) -> [String] {
        let count = 100 + Int(random.next(below: 8000))
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return (0..<count).map { n in
            var record = "r\(iteration)-\(n)-\(String(random.next(), radix: 36))"
            let size: Int
            switch random.next(below: 100) {
            case 0: size = 32_000 + Int(random.next(below: 90_000))
            case 1...4: size = 1_000 + Int(random.next(below: 8_000))
            default: size = Int(random.next(below: 120))
            }
            let fill = letters[Int(random.next(below: UInt64(letters.count)))]
            record += "-" + String(repeating: fill, count: size)
            return record
        }
    }

    // MARK: Running append

    enum End: Equatable, CustomStringConvertible {
        case killed
        case signalled(Int32)
        case exited(Int32)

        var description: String {
            switch self {
            case .killed: "SIGKILL"
            case .signalled(let s): "signal \(s)"
            case .exited(let s): "exit \(s)"
            }
        }
    }

    struct Outcome {
        var end: End
        var stdout: [UInt8]
        var stderr: String
        var wroteAllInput: Bool
    }

    /// Runs `append` on `journal` fed `records`, and kills it at `moment`
    /// (nil: lets it finish).
    mutating func runAppend(journal: String, records: [String], moment: KillMoment?) throws -> Outcome {
        // The input, in chunks of random sizes.
        var chunks: [[UInt8]] = []
        var i = 0
        while i < records.count {
            let n = 1 + Int(random.next(below: 200))
            chunks.append(Array(records[i..<min(i + n, records.count)].map { $0 + "\n" }.joined().utf8))
            i += n
        }
        let input = Pipe()
        let output = Pipe()
        let errorPath = scratch + "/stderr-\(UUID().uuidString.prefix(8))"
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        let errorFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        // Our ends must not leak into the child (or any other).
        setCloseOnExec(input.fileHandleForWriting.fileDescriptor)
        setCloseOnExec(output.fileHandleForReading.fileDescriptor)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: prefix.first ?? executable)
        process.arguments = prefix.dropFirst() + (prefix.isEmpty ? [] : [executable]) + ["append", "--journal", journal]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errorFile
        try process.run()
        try errorFile.close()
        let pid = process.processIdentifier

        let stop = try StopSignal()
        let feeder = InputFeeder(fd: try ownedNonBlockingCopy(of: input.fileHandleForWriting.fileDescriptor), chunks: chunks, stop: stop)
        let collector = OutputCollector(fd: try ownedNonBlockingCopy(of: output.fileHandleForReading.fileDescriptor), stop: stop)
        try input.fileHandleForWriting.close()
        try output.fileHandleForReading.close()
        try? input.fileHandleForReading.close()
        try? output.fileHandleForWriting.close()

        var sentKill = false
        if let moment {
            switch moment {
            case .immediately:
                break
            case .afterSpawn(let us):
                usleep(us)
            case .afterPrinting(let n, let us):
                collector.waitForLines(n)
                usleep(us)
            }
            // The child is reaped only by `waitUntilExit` below... unless it
            // already exited on its own: then there is nothing to kill.
            if process.isRunning {
                sentKill = kill(pid, SIGKILL) == 0
            }
        }
        process.waitUntilExit()
        stop.signal()
        let wroteAll = feeder.finish()
        let stdout = collector.finish()
        let stderr = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""

        let end: End
        switch process.terminationReason {
        case .uncaughtSignal:
            end = process.terminationStatus == SIGKILL && sentKill ? .killed : .signalled(process.terminationStatus)
        case .exit:
            end = .exited(process.terminationStatus)
        @unknown default:
            end = .exited(process.terminationStatus)
        }
        return Outcome(end: end, stdout: stdout, stderr: stderr.trimmingCharacters(in: .whitespacesAndNewlines), wroteAllInput: wroteAll)
    }

    /// The LSNs in `output`, one per complete line; a last line cut by the
    /// kill (no newline) is not a printed LSN. nil when a line is not an LSN.
    func parseLSNs(_ output: [UInt8]) -> [LSN]? {
        var lines = output.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        lines.removeLast()  // after the last newline: empty, or cut short
        var lsns: [LSN] = []
        for line in lines {
            guard let lsn = LSN(String(decoding: line, as: UTF8.self)) else { return nil }
            lsns.append(lsn)
        }
        return lsns
    }
}

extension SplitMix64 {
    /// A number below `bound`, by modulo (the runs' draws since their seeds were chosen).
    mutating func next(below bound: UInt64) -> UInt64 { next() % bound }
}
