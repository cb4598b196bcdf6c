import JournalPrimitives
import ArgumentParser
import Foundation
import JournalCLISupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift bench all`: every suite in turn, each as a child
/// process printing JSON lines, with a progress display on stderr; the
/// lines go to a results file (and to stdout with `--json`), and the report
/// (`BENCHMARKS.md` and its PNG charts) is drawn from them.
struct BenchAll: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Run every suite beside its peers and write BENCHMARKS.md with charts.",
        discussion: """
            Suites: append-disk (durable appends on --dir beside fio, a pwrite + fdatasync group commit and SQLite), \
            append-shm (the same on --shm-dir, async API, beside the blocking API on the same journal), backends (io_uring and the thread backend alternately on both, \
            Tools/bench/backends.sh), follow (follower lag in this process and another while 64 appenders run, on --shm-dir and --dir, by copying followers, then by listeners), replay (a 1 GiB journal read back beside fio direct reads), \
            pagedfile (beside a flat buffer), kv (beside SQLite and RocksDB), cpu (instructions per append under callgrind, \
            Tools/bench/callgrind-append.sh) and micro (make bench-micro), each where it is available. \
            A suite that fails is reported and the others still run; the exit status is then 74.
            """)

    @Flag(help: "A short pass (about a minute or two): fewer cells, one short round each. A smoke test, not a measurement.")
    var quick = false

    @Flag(help: "Print every result line (JSON, tagged with its suite) on stdout.")
    var json = false

    @Option(help: "Directory on the disk file system for the append, replay and kv suites.")
    var dir = "./data/bench"

    @Option(help: "Directory on tmpfs for the /dev/shm append suite.")
    var shmDir = "/dev/shm/journal-bench"

    @Option(help: "Rounds per cell (at least 3).")
    var rounds = 3

    @Option(help: "Rounds for the append suites' MB/s cells (at least 3): their ratio to fio rests on the disk's bandwidth, which swings most from round to round.")
    var bulkRounds = 5

    @Option(help: "Measured seconds per side and round in the append suites.")
    var seconds: Double = 3

    @Option(help: "Suites to run, comma-separated (default: all of them).")
    var suites = BenchAll.suiteNames.joined(separator: ",")

    @Option(help: "The report to write.")
    var out = "BENCHMARKS.md"

    @Option(help: "Directory for the charts, their data, the gnuplot script and the results file.")
    var chartsDir = "Docs/bench"

    @Flag(help: "Run the suites but write no report.")
    var noReport = false

    @Option(help: "The fio executable.")
    var fio = "fio"

    static let suiteNames = [
        BenchSuiteName.appendDisk, BenchSuiteName.appendShm, BenchSuiteName.backends, BenchSuiteName.follow, BenchSuiteName.replay, BenchSuiteName.pagedFile,
        BenchSuiteName.kv, BenchSuiteName.cpu, BenchSuiteName.micro,
    ]

    func validate() throws {
        if !quick && rounds < 3 { throw ValidationError("--rounds must be at least 3; use --quick for a smoke pass") }
        if !quick && bulkRounds < 3 { throw ValidationError("--bulk-rounds must be at least 3") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        for s in selectedSuites where !Self.suiteNames.contains(s) {
            throw ValidationError("unknown suite \(s); suites: \(Self.suiteNames.joined(separator: ", "))")
        }
    }

    var selectedSuites: [String] {
        suites.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() throws {
        let executable = selfExecutable()
        let plans = Self.suiteNames.filter(selectedSuites.contains).map { plan($0, executable: executable) }
        do { try FileManager.default.createDirectory(atPath: chartsDir, withIntermediateDirectories: true) } catch {
            throw CLIError(.cannotCreate, "bench all: cannot create \(chartsDir): \(error)")
        }
        let resultsPath = chartsDir + "/results.jsonl"
        var results: [String] = []
        func emit(_ line: String) {
            results.append(line)
            if json { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        }
        emit(metaLine())

        let progress = BenchProgress(suites: plans.count)
        var failed: [String] = []
        for (index, plan) in plans.enumerated() {
            var status: [(String, JSONValue)] = [("suite", .string(BenchSuiteName.status)), ("name", .string(plan.name))]
            if let dir = plan.dir {
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                status += [("dir", .string(dir)), ("file_system", .string(MachineInfo.fileSystem(dir)))]
            }
            if let reason = plan.skip {
                progress.note("[\(index + 1)/\(plans.count)] \(plan.name): skipped (\(reason))")
                emit(jsonLine(status + [("state", .string("skipped")), ("reason", .string(reason))]))
                continue
            }
            status.append(("command", .string(plan.display)))
            progress.begin(index: index, suite: plan.name)
            let start = monotonicNanos()
            let lines = Mutex<[String]>([])
            let stderrTail = Mutex<[String]>([])
            let exit = runChild(plan.arguments, stdout: { line in
                guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return }
                lines.withLock { $0.append(line) }
            }, stderr: { line in
                stderrTail.withLock { $0 = Array(($0 + [line]).suffix(5)) }
                progress.detail(line)
            })
            let elapsed = Double(monotonicNanos() - start) / 1e9
            for line in lines.withLock({ $0 }) { emit(BenchRecord.tag(line, suite: plan.name)) }
            if exit == 0 {
                progress.end("\(plan.name): done in \(formatDuration(elapsed))")
                emit(jsonLine(status + [("state", .string("ran")), ("seconds", .number(elapsed))]))
            } else {
                let reason = "exit status \(exit): " + stderrTail.withLock { $0 }.joined(separator: " / ")
                progress.end("\(plan.name): FAILED after \(formatDuration(elapsed)) (\(reason))")
                emit(jsonLine(status + [("state", .string("failed")), ("seconds", .number(elapsed)), ("reason", .string(reason))]))
                failed.append(plan.name)
            }
        }
        progress.finish()

        do { try (results.joined(separator: "\n") + "\n").write(toFile: resultsPath, atomically: true, encoding: .utf8) } catch {
            throw CLIError(.ioError, "bench all: cannot write \(resultsPath): \(error)")
        }
        if !noReport {
            let written = try BenchReportWriter(markdownPath: out, chartsDir: chartsDir).write(BenchRun(records: BenchRecord.parseAll(results.joined(separator: "\n"))))
            let message = "bench all: wrote \(out) (\(written.charts) chart(s) in \(chartsDir)\(written.note.map { "; \($0)" } ?? "")) and \(resultsPath)"
            FileHandle.standardError.write(Data((message + "\n").utf8))
            if !json { print(written.targetsText) }
        }
        if !failed.isEmpty {
            throw CLIError(.ioError, "bench all: suites failed: \(failed.joined(separator: ", "))")
        }
    }

    /// The run's first line: the command, the machine and the settings.
    private func metaLine() -> String {
        jsonLine([
            ("suite", .string(BenchSuiteName.meta)),
            ("command", .string((["journalctl-swift"] + CommandLine.arguments.dropFirst()).joined(separator: " "))),
            ("date", .string(MachineInfo.dateUTC)), ("commit", .string(MachineInfo.commit)),
            ("cpu", .string(MachineInfo.cpuModel)), ("cores", .integer(MachineInfo.cores)),
            ("ram_gib", .number(MachineInfo.ramGiB)), ("kernel", .string(MachineInfo.kernel)),
            ("quick", .bool(quick)), ("rounds", .integer(quick ? 1 : rounds)), ("bulk_rounds", .integer(quick ? 1 : bulkRounds)), ("seconds", .number(quick ? 1 : seconds)),
        ])
    }

    // MARK: Plans

    struct Plan {
        var name: String
        var arguments: [String]
        var dir: String?
        var skip: String?
        /// The command for people: this executable by its name, not its path.
        var display: String {
            arguments.map { $0.hasSuffix("/journalctl-swift") ? "journalctl-swift" : $0 }.joined(separator: " ")
        }
    }

    private var fioArguments: [String] { fio == "fio" ? [] : ["--fio", fio] }

    func plan(_ name: String, executable: String) -> Plan {
        let rounds = String(self.rounds)
        let seconds = formatNumber(self.seconds)
        switch name {
        case BenchSuiteName.appendDisk, BenchSuiteName.appendShm:
            let dir = name == BenchSuiteName.appendDisk ? self.dir + "/append" : shmDir
            var args = [executable, "bench", "append", "--json", "--verbose", "--dir", dir] + fioArguments
            if name == BenchSuiteName.appendShm {
                // The async API, with the blocking one on the same journal in each round.
                args += ["--api", AppendAPI.async.rawValue, "--peers", "pwrite,sqlite,blocking"]
            }
            if quick {
                args += ["--quick", "--cell", "append-128B-1", "--cell", "append-128B-64", "--cell", "append-1MiB-4", "--prime-rollovers", "1"]
            } else {
                args += ["--rounds", rounds, "--bulk-rounds", String(bulkRounds), "--seconds", seconds]
            }
            return Plan(name: name, arguments: args, dir: dir)
        case BenchSuiteName.backends:
            return backendsPlan(executable: executable)
        case BenchSuiteName.follow:
            return followPlan(executable: executable)
        case BenchSuiteName.replay:
            let dir = self.dir + "/replay"
            return Plan(name: name, arguments: [executable, "bench", "replay", "--json", "--verbose", "--dir", dir] + fioArguments
                + (quick ? ["--quick"] : ["--rounds", rounds]), dir: dir)
        case BenchSuiteName.pagedFile:
            return Plan(name: name, arguments: [executable, "bench", "pagedfile", "--json"] + (quick ? ["--quick", "--rounds", "1"] : ["--rounds", rounds]))
        case BenchSuiteName.kv:
            let dir = self.dir + "/kv"
            return Plan(name: name, arguments: [executable, "bench", "kv", "--json", "--dir", dir] + (quick ? ["--quick"] : ["--rounds", rounds]), dir: dir)
        case BenchSuiteName.cpu:
            let script = "Tools/bench/callgrind-append.sh"
            // The release build running this is the one counted; a regression
            // past the baseline is reported, not a failure of the run.
            var plan = Plan(name: name, arguments: [script, "--binary", executable, "--warn-only"])
            if access(script, X_OK) != 0 { plan.skip = "\(script) is not in this checkout" }
            else if quick { plan.skip = "not in --quick" }
            return plan
        default:
            var plan = Plan(name: name, arguments: ["make", "--no-print-directory", "bench-micro"])
            let makefile = (try? String(contentsOfFile: "Makefile", encoding: .utf8)) ?? ""
            if !makefile.contains("\nbench-micro:") { plan.skip = "no bench-micro target in the Makefile" }
            else if quick { plan.skip = "not in --quick" }
            return plan
        }
    }
}

extension BenchAll {
    /// Both I/O backends alternately on the disk and on tmpfs, through the
    /// script that `make bench-backends` runs, printing JSON lines.
    func backendsPlan(executable: String) -> Plan {
        let script = "Tools/bench/backends.sh"
        let dirs = [dir + "/backends", shmDir + "-backends"]
        var arguments = [script, "--binary", executable, "--json", "--dirs", dirs.joined(separator: " ")]
        arguments += quick ? ["--quick", "--runs", "1"] : ["--rounds", String(rounds), "--seconds", formatNumber(seconds)]
        var plan = Plan(name: BenchSuiteName.backends, arguments: arguments, dir: dirs[0])
        if access(script, X_OK) != 0 { plan.skip = "\(script) is not in this checkout" }
        return plan
    }
}

/// `journalctl-swift bench report`: the report drawn again from a results file.
struct BenchReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write BENCHMARKS.md and its charts from the results file of a `bench all` run.")

    @Option(help: "The results file (JSON lines).")
    var results = "Docs/bench/results.jsonl"

    @Option(help: "The report to write.")
    var out = "BENCHMARKS.md"

    @Option(help: "Directory for the charts, their data and the gnuplot script.")
    var chartsDir = "Docs/bench"

    func run() throws {
        let text: String
        do { text = try String(contentsOfFile: results, encoding: .utf8) } catch {
            throw CLIError(.notFound, "bench report: cannot read \(results): \(error.localizedDescription)")
        }
        let run = BenchRun(records: BenchRecord.parseAll(text))
        guard !run.records.isEmpty else { throw CLIError(.usage, "bench report: \(results) holds no result lines") }
        let written = try BenchReportWriter(markdownPath: out, chartsDir: chartsDir).write(run)
        print("wrote \(out) (\(written.charts) chart(s) in \(chartsDir)\(written.note.map { "; \($0)" } ?? ""))")
    }
}

/// Writes the markdown, the chart data and script, and draws the charts
/// with gnuplot when it is installed.
struct BenchReportWriter {
    let markdownPath: String
    let chartsDir: String

    func write(_ run: BenchRun) throws -> (charts: Int, note: String?, targetsText: String) {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: chartsDir, withIntermediateDirectories: true) } catch {
            throw CLIError(.cannotCreate, "bench: cannot create \(chartsDir): \(error)")
        }
        let charts = BenchChart.all(run)
        var note: String?
        var drawn: [BenchChart] = []
        do {
            for chart in charts {
                try chart.data.write(toFile: chartsDir + "/\(chart.name).dat", atomically: true, encoding: .utf8)
                try? fm.removeItem(atPath: chartsDir + "/\(chart.name).png")
            }
            let terminal = MachineInfo.run("gnuplot", ["-e", "set terminal pngcairo"]) != nil ? "pngcairo" : "png"
            try BenchChart.script(charts, terminal: terminal).write(toFile: chartsDir + "/charts.gp", atomically: true, encoding: .utf8)
            if MachineInfo.run("gnuplot", ["charts.gp"], in: chartsDir) == nil {
                note = "gnuplot failed or is not installed (make setup installs gnuplot-nox); charts not drawn"
            }
            drawn = charts.filter { fm.fileExists(atPath: chartsDir + "/\($0.name).png") }
            let notes = try? String(contentsOfFile: chartsDir + "/notes.md", encoding: .utf8)
            let report = BenchReport(run: run, chartsPath: relativePath(from: markdownPath, to: chartsDir), charts: drawn, notes: notes)
            try report.markdown.write(toFile: markdownPath, atomically: true, encoding: .utf8)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(.ioError, "bench: cannot write the report: \(error)")
        }
        let targets = BenchTarget.all(run).map { t in
            "\(t.verdict.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(t.what) \(t.goal): \(t.value.map { formatNumber($0) } ?? "-") (\(t.measured))"
        }
        return (drawn.count, note, (["targets:"] + targets).joined(separator: "\n"))
    }
}

/// `to` relative to the directory of the file `from` when it lies inside
/// it, else `to` as an absolute path.
func relativePath(from file: String, to directory: String) -> String {
    let base = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().path
    let target = URL(fileURLWithPath: directory).standardizedFileURL.path
    if target == base { return "" }
    if target.hasPrefix(base + "/") { return String(target.dropFirst(base.count + 1)) }
    if base == "/" { return String(target.dropFirst()) }
    return target
}

func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return String(format: "%d:%02d", s / 60, s % 60)
}

/// This executable's path (the suites run as children of it).
private func selfExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    if n > 0 { return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    return CommandLine.arguments[0]
}

// MARK: Children

/// Runs `arguments` (program first, looked up on PATH when it has no
/// slash), calling `stdout` and `stderr` with each line as it arrives;
/// returns the exit status (127 when the program cannot start).
func runChild(_ arguments: [String], stdout: @escaping @Sendable (String) -> Void, stderr: @escaping @Sendable (String) -> Void) -> Int32 {
    guard let program = arguments.first else { return 127 }
    let process = Process()
    if program.contains("/") {
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = Array(arguments.dropFirst())
    } else {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
    }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    do { try process.run() } catch {
        stderr("cannot start \(program): \(error)")
        return 127
    }
    let outFD = out.fileHandleForReading.fileDescriptor
    let errFD = err.fileHandleForReading.fileDescriptor
    var readers: [JoinableThread] = []
    if let t = try? startBenchThread({ readLines(outFD, stdout) }) { readers.append(t) }
    if let t = try? startBenchThread({ readLines(errFD, stderr) }) { readers.append(t) }
    if readers.count < 2 {
        // Without reader threads the child could block on a full pipe.
        process.terminate()
    }
    process.waitUntilExit()
    for r in readers { r.join() }
    return process.terminationStatus
}

/// Reads `fd` to its end, calling `body` with each line (without newline).
private func readLines(_ fd: Int32, _ body: (String) -> Void) {
    var pending: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        pending.append(contentsOf: buffer[0..<n])
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            body(String(decoding: pending[..<newline], as: UTF8.self))
            pending.removeSubrange(...newline)
        }
    }
    if !pending.isEmpty { body(String(decoding: pending, as: UTF8.self)) }
}

// MARK: Progress

/// The progress display on stderr: on a terminal, one status line redrawn
/// twice a second (suite, cell, round, elapsed); otherwise every line a
/// suite logs, prefixed with the suite and the elapsed time.
final class BenchProgress: Sendable {
    private struct State {
        var index = 0
        var suite = ""
        var suiteStart: UInt64 = 0
        var cell = ""
        var detail = ""
        var running = false
    }

    private let suites: Int
    private let runStart = monotonicNanos()
    private let tty = isatty(2) == 1
    private let state = Mutex(State())
    private let stop = Atomic<Bool>(false)
    private let ticker = Mutex<JoinableThread?>(nil)

    init(suites: Int) {
        self.suites = suites
        guard tty else { return }
        let t = try? startBenchThread { [self] in
            while !stop.load(ordering: .acquiring) {
                benchSleep(seconds: 0.5)
                if let line = statusLine() { write("\r\u{1B}[2K" + line) }
            }
        }
        ticker.withLock { $0 = t }
    }

    func begin(index: Int, suite: String) {
        state.withLock {
            $0 = State(index: index, suite: suite, suiteStart: monotonicNanos(), running: true)
        }
        if !tty { write("[\(index + 1)/\(suites) \(suite)] started (total \(elapsed(runStart)))\n") }
    }

    /// A line a suite logged.
    func detail(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return }
        let (prefix, _) = state.withLock { s -> (String, Void) in
            if !line.hasPrefix(" "), let colon = trimmed.firstIndex(of: ":") { s.cell = String(trimmed[..<colon]) }
            s.detail = trimmed
            return ("[\(s.index + 1)/\(suites) \(s.suite) \(elapsed(s.suiteStart))]", ())
        }
        if !tty { write("\(prefix) \(trimmed)\n") }
    }

    /// A suite finished (or failed): a permanent line.
    func end(_ text: String) {
        let index = state.withLock { s -> Int in
            s.running = false
            return s.index
        }
        write((tty ? "\r\u{1B}[2K" : "") + "[\(index + 1)/\(suites)] \(text) (total \(elapsed(runStart)))\n")
    }

    func note(_ text: String) {
        write((tty ? "\r\u{1B}[2K" : "") + text + "\n")
    }

    func finish() {
        stop.store(true, ordering: .releasing)
        ticker.withLock { $0 }?.join()
        if tty { write("\r\u{1B}[2K") }
    }

    private func statusLine() -> String? {
        state.withLock { s in
            guard s.running else { return nil }
            var line = "[\(s.index + 1)/\(suites) \(s.suite) \(elapsed(s.suiteStart)), total \(elapsed(runStart))]"
            if !s.cell.isEmpty && !s.detail.hasPrefix(s.cell) { line += " \(s.cell) ·" }
            line += " " + s.detail
            return String(line.prefix(160))
        }
    }

    private func elapsed(_ since: UInt64) -> String { formatDuration(Double(monotonicNanos() - since) / 1e9) }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
