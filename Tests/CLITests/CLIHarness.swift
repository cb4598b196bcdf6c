import Foundation
import TestSupport
import Testing

/// Runs the built `journalctl-swift` as a child process.
///
/// The executable is found next to the test bundle (`swift test` builds
/// every product into the same directory), or through the
/// `JOURNALCTL_SWIFT` environment variable.
enum CLI {
    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        /// Non-empty stdout lines.
        var lines: [String] { stdoutText.split(separator: "\n").map(String.init) }
        /// The error line, without the trailing newline.
        var errorLine: String { stderr.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    static let executable = Executable.journalctl

    /// Runs the CLI with `arguments`, `stdin` as its standard input, and
    /// returns its exit status and output. `prefix` runs it under another
    /// program (e.g. `setpriv ...`). `environment` adds to this process's.
    static func run(_ arguments: [String], stdin: Data = Data(), prefix: [String] = [], environment: [String: String] = [:]) throws -> Result {
        guard let executable else {
            Issue.record("journalctl-swift not found next to the test bundle; build it (swift build) or set JOURNALCTL_SWIFT")
            throw HarnessError.missingExecutable
        }
        return try runProgram(prefix.isEmpty ? executable : prefix[0], Array(prefix.dropFirst()) + (prefix.isEmpty ? [] : [executable]) + arguments, stdin: stdin, environment: environment)
    }

    /// Runs any program; output goes through files, so no pipe can fill up.
    static func runProgram(_ program: String, _ arguments: [String], stdin: Data = Data(), environment: [String: String] = [:]) throws -> Result {
        let child = try Child(program, arguments, stdin: stdin, environment: environment)
        defer { child.scratch.remove() }
        try child.process.run()
        child.process.waitUntilExit()
        return try child.result()
    }

    /// `runProgram` on a thread of its own rather than one of the few the
    /// test's tasks share, for tests that run many programs at once.
    /// (Foundation's `terminationHandler`, the way to wait without a thread,
    /// crashed `Process.run` when many children were launched at once.)
    static func runProgramAsync(_ program: String, _ arguments: [String]) async throws -> Result {
        let outcome = await withCheckedContinuation { (done: CheckedContinuation<Swift.Result<Result, any Error>, Never>) in
            DispatchQueue.global().async {
                done.resume(returning: Swift.Result { try runProgram(program, arguments) })
            }
        }
        return try outcome.get()
    }

    /// A child process set up to read its stdin from, and write its output
    /// to, files in a scratch directory of its own.
    private struct Child {
        let scratch: Scratch
        let process = Process()
        let program: String
        let arguments: [String]

        init(_ program: String, _ arguments: [String], stdin: Data, environment: [String: String]) throws {
            scratch = try Scratch(base: NSTemporaryDirectory())
            self.program = program
            self.arguments = arguments
            try stdin.write(to: URL(fileURLWithPath: scratch.path("stdin")))
            _ = FileManager.default.createFile(atPath: scratch.path("stdout"), contents: nil)
            _ = FileManager.default.createFile(atPath: scratch.path("stderr"), contents: nil)
            process.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : try which(program))
            process.arguments = arguments
            if !environment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
            }
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: scratch.path("stdin")))
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path("stdout")))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path("stderr")))
        }

        /// The exit status and output of the finished process.
        func result() throws -> Result {
            let out = try Data(contentsOf: URL(fileURLWithPath: scratch.path("stdout")))
            let err = try String(decoding: Data(contentsOf: URL(fileURLWithPath: scratch.path("stderr"))), as: UTF8.self)
            // A signal is a crash: report it as such rather than as a status.
            if process.terminationReason == .uncaughtSignal {
                Issue.record("\(program) \(arguments) died of signal \(process.terminationStatus); stderr: \(err)")
            }
            return Result(status: process.terminationStatus, stdout: out, stderr: withoutTimingWarnings(err))
        }
    }

    /// The journal warns of a durable write slower than its threshold, which
    /// a busy machine can cause at any point: such lines are dropped so that
    /// a verdict on stderr does not depend on the machine's load.
    static func withoutTimingWarnings(_ stderr: String) -> String {
        guard stderr.contains("slow durable write") else { return stderr }
        return stderr.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !($0.contains(" warning ") && $0.contains("slow durable write")) }
            .joined(separator: "\n")
    }

    static func which(_ program: String) throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        throw HarnessError.missingProgram(program)
    }

    static func lines(_ text: [String]) -> Data { Data(text.map { $0 + "\n" }.joined().utf8) }

    /// `payloads` framed as `append --binary` reads them.
    static func frames(_ payloads: [[UInt8]]) -> Data {
        var data = Data()
        for p in payloads {
            let n = UInt32(p.count)
            data.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)])
            data.append(contentsOf: p)
        }
        return data
    }

    /// Parses `replay --binary` output back into payloads.
    static func unframe(_ data: Data) -> [[UInt8]]? {
        let bytes = [UInt8](data)
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard i + 4 <= bytes.count else { return nil }
            let n = Int(UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
            guard i + 4 + n <= bytes.count else { return nil }
            out.append(Array(bytes[(i + 4)..<(i + 4 + n)]))
            i += 4 + n
        }
        return out
    }
}

enum HarnessError: Error {
    case missingExecutable
    case missingProgram(String)
}

/// A fresh directory under `base`, removed by `remove()`.
struct Scratch {
    let root: String

    init(base: String) throws {
        let name = "journalctl-test-\(UUID().uuidString.prefix(8))"
        root = (base.hasSuffix("/") ? base : base + "/") + name
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { root + "/" + name }

    func remove() {
        // Undo any chmod a test made so removal cannot fail on permissions.
        if let items = FileManager.default.enumerator(atPath: root) {
            for case let item as String in items { chmod(root + "/" + item, 0o700) }
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// The file systems the end-to-end tests run on: the disk, and tmpfs.
let fileSystems = ["/tmp", "/dev/shm"]

/// Whether this process may make a private mount namespace (needs
/// CAP_SYS_ADMIN): used to mount a read-only file system and ramfs.
let canUnshareMounts: Bool = {
    guard let result = try? CLI.runProgram("unshare", ["-m", "--", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs none \"$d\"; rc=$?; umount \"$d\" 2>/dev/null; rmdir \"$d\"; exit $rc"]) else { return false }
    return result.status == 0
}()

let isRoot = geteuid() == 0
