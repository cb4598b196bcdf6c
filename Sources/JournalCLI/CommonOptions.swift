import ArgumentParser
import Journal
import JournalCLISupport
import JournalFileStorage
import JournalStorage
import JournalTesting
import Logging
import JournalPrimitives

#if canImport(Glibc)
import Glibc
#endif

/// Options every subcommand takes.
struct JournalLocation: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The journal directory.", valueName: "dir"))
    var journal: String = "./data/journal"

    @OptionGroup var flags: StorageFlags

    var verbose: Bool { flags.verbose }

    /// Opens the journal directory (no journal yet: just the directory and
    /// its file system's direct-I/O probe).
    func storage(create: Bool = false) throws(CLIError) -> FileSystemStorage {
        if create { try makeParentDirectories(of: journal) }
        do {
            return try FileSystemStorage(path: journal, options: flags.storageOptions(create: create))
        } catch {
            if error.errno == .invalidArgument && error.operation == "open O_DIRECT" {
                throw CLIError(.configuration, JournalError.directIOUnsupported(path: journal).description)
            }
            if create && error.operation == "mkdir", error.errno != .permissionDenied, error.errno != .readOnlyFileSystem, error.errno != .notPermitted {
                throw CLIError(.cannotCreate, "cannot create \(journal): \(error.errno)")
            }
            throw CLIError(error)
        }
    }

    /// Opens the journal for appending (takes the writer lock).
    func openWriter(recovery: RecoveryMode = .tolerateTornTail, retainedBytesMax: Int? = nil) throws(CLIError) -> Journal {
        let dir = try storage()
        var options = JournalOptions()
        options.recovery = recovery
        if let retainedBytesMax { options.retainedBytesMax = retainedBytesMax }
        let writer: any StorageDirectory = try FaultInjection.failingWrite().map { FaultyStorage(dir, failingWrites: [$0]) } ?? dir
        do { return try Journal.open(storage: writer, options: options) } catch { throw CLIError(error) }
    }

    /// Opens the journal for reading only (no lock, no writes).
    func openReader(recovery: RecoveryMode) throws(CLIError) -> Journal {
        let dir = try storage()
        do { return try Journal.openForReading(storage: dir, recovery: recovery) } catch { throw CLIError(error) }
    }

    /// `mkdir -p` of the directories above `path` (mode 0755 before umask);
    /// `path` itself is made by the storage, mode 0700.
    private func makeParentDirectories(of path: String) throws(CLIError) {
        var components = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        components.removeLast()
        var prefix = path.hasPrefix("/") ? "" : "."
        for c in components where !c.isEmpty && c != "." {
            prefix += "/" + c
            if mkdir(prefix, 0o755) != 0 {
                let e = errno
                if e == EEXIST { continue }
                let error = StorageError("mkdir", path: prefix, errno: .init(rawValue: e))
                let mapped = CLIError(error)
                throw mapped.code == .ioError ? CLIError(.cannotCreate, "cannot create \(prefix): \(error.errno)") : mapped
            }
        }
    }
}

/// How a command opens the files of a journal or a store: the flags the
/// journal's commands and the key-value store's share.
struct StorageFlags: ParsableArguments {
    @Flag(name: .long, help: "Open files without O_DIRECT (writes stay durable with O_DSYNC). For file systems that reject direct I/O.")
    var noDirect = false

    @Option(name: .long, help: IOBackendArgument.help)
    var ioBackend: IOBackendArgument = .auto

    @Flag(name: .long, help: "Log at level info (default: warnings only) to stderr.")
    var verbose = false

    /// The storage's options: direct I/O unless `--no-direct`, files private
    /// to the user (0600; a directory made, 0700).
    func storageOptions(create: Bool = false) -> FileSystemStorage.Options {
        var options = FileSystemStorage.Options()
        options.directIO = !noDirect
        options.ioBackend = ioBackend.backend
        options.createDirectory = create
        options.fileMode = 0o600
        return options
    }
}

/// The testing-only fault-injection hook (Docs/cli.md, "Testing hooks"):
/// `JOURNALCTL_TESTING_FAIL_WRITE=N` makes the Nth durable batch write of
/// this process (counting from 1) fail with EIO instead of reaching the
/// disk, as a failing device would. For end-to-end tests of the journal's
/// reaction (poisoning, exit code 74); never set it otherwise.
enum FaultInjection {
    static let variable = "JOURNALCTL_TESTING_FAIL_WRITE"

    /// The write to fail, or nil when the variable is unset.
    static func failingWrite() throws(CLIError) -> Int? {
        guard let raw = getenv(variable) else { return nil }
        let text = String(cString: raw)
        guard let n = Int(text), n >= 1 else {
            throw CLIError(.usage, "\(variable) must be a positive write number, not '\(text)'")
        }
        return n
    }
}

/// `--io-backend`: how durable writes reach the disk (`JournalIOBackend`).
enum IOBackendArgument: String, CaseIterable, ExpressibleByArgument {
    case auto
    case ioUring = "io-uring"
    case threads

    static let help = ArgumentHelp(
        "How durable writes reach the disk: auto (io_uring where the kernel allows it, else threads), io-uring (fail with exit 78 where it is denied), threads (a pool of threads issuing pwritev2).",
        valueName: "backend")

    var backend: JournalIOBackend {
        switch self {
        case .auto: .automatic
        case .ioUring: .ioUring
        case .threads: .threads
        }
    }
}

/// `--recovery`, for commands that read.
struct RecoveryOption: ParsableArguments {
    @Option(name: .customLong("recovery"), help: ArgumentHelp(
        "How recovery treats damage: tolerate-torn-tail (cut a torn tail, fail on other damage), absolute (fail on any damage), salvage (skip damage, keep every valid record after it).",
        valueName: "mode"))
    var recoveryChoice: RecoveryChoice = .tolerateTornTail

    var recovery: RecoveryMode { recoveryChoice.mode }
}

/// The argument form of `RecoveryMode` (the journal's own names).
enum RecoveryChoice: String, CaseIterable, ExpressibleByArgument {
    case tolerateTornTail = "tolerate-torn-tail"
    case absolute
    case salvage

    var mode: RecoveryMode {
        switch self {
        case .tolerateTornTail: .tolerateTornTail
        case .absolute: .absoluteConsistency
        case .salvage: .salvage
        }
    }
}

/// Commands that log (all of them): the root bootstraps logging from this.
protocol LoggingCommand {
    var verbose: Bool { get }
}

/// Commands on a journal directory: they log as `--verbose` says.
protocol JournalCommand: LoggingCommand {
    var location: JournalLocation { get }
}

extension JournalCommand {
    var verbose: Bool { location.verbose }
}

enum LogSetup {
    private static let done = LockedValue(false)

    /// Logs go to stderr: warnings and above, or info and above with `--verbose`.
    /// Stdout carries only the command's output.
    static func bootstrap(verbose: Bool) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let level: Logger.Level = verbose ? .info : .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// A byte count with an optional binary suffix: 4096, 256K, 64M, 1G (also KiB, MiB, GiB).
struct ByteCount: ExpressibleByArgument, Sendable, Equatable {
    var bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        guard let parsed = Self.parse(argument) else { return nil }
        bytes = parsed
    }

    static func parse(_ text: String) -> Int? {
        var s = Substring(text.trimmingWhitespace())
        var shift = 0
        let suffixes: [(String, Int)] = [
            ("KiB", 10), ("MiB", 20), ("GiB", 30), ("KB", 10), ("MB", 20), ("GB", 30),
            ("K", 10), ("M", 20), ("G", 30), ("k", 10), ("m", 20), ("g", 30), ("B", 0),
        ]
        for (suffix, bits) in suffixes where s.hasSuffix(suffix) {
            s = s.dropLast(suffix.count)
            shift = bits
            break
        }
        guard let value = Int(s), value >= 0 else { return nil }
        let (result, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : result
    }

    var defaultValueDescription: String { "\(bytes)" }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
