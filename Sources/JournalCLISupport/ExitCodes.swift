public import ArgumentParser
public import Journal
public import JournalStorage
import JournalPrimitives

/// The exit codes of `journalctl-swift`, after BSD's `sysexits.h` where one fits.
///
/// | code | name | when |
/// |---|---|---|
/// | 0 | ok | success |
/// | 64 | usage | bad arguments, a record above the maximum size, malformed input (a truncated `--binary` frame), an LSN outside the journal |
/// | 65 | corruption | damaged data that is not a torn tail (`verify`, or recovery of any command) |
/// | 66 | notFound | the journal directory is missing, is not a directory, or holds no journal (no or bad `journal.meta`) |
/// | 73 | cannotCreate | `create` on a directory that already holds a journal, or a directory that cannot be made |
/// | 74 | ioError | an I/O error, including a failed durable write (the journal refuses appends until reopened) |
/// | 75 | locked | another writer holds the journal, or another reader holds the named reader position (temporary: retry later) |
/// | 76 | journalFull | the journal holds its `--segment-count-max` segments; `truncate` to make room |
/// | 77 | permissionDenied | permission denied, or a read-only file system |
/// | 78 | configuration | a newer format version, a file system that rejects `O_DIRECT` (use `--no-direct`), `--io-backend io-uring` where io_uring is denied or on FUSE, an inconsistent configuration |
/// | 79 | fellBehind | a reader position fell behind: truncation went past it (it retained more than `--retained-bytes-max`) |
/// | 69 | unavailable | `kv --cluster`: no node served the request in time (no leader, no quorum); `kv serve`: a port cannot be bound, or the node was removed from the cluster |
/// | 70 | violation | `crash-sim` found a violation of the journal's guarantees (the reproducing seed is on stderr) |
public enum JournalExitCode: Int32, Sendable, CaseIterable {
    case ok = 0
    case usage = 64
    case corruption = 65
    case notFound = 66
    case cannotCreate = 73
    case ioError = 74
    case locked = 75
    case journalFull = 76
    case permissionDenied = 77
    case configuration = 78
    case fellBehind = 79
    case violation = 70
    case unavailable = 69

    /// The argument parser's form.
    public var exitCode: ExitCode { ExitCode(rawValue) }

    /// The table printed at the end of `--help`.
    package static let helpTable = """
        Exit codes:
          0   ok
          64  usage: bad arguments or input, record too large, LSN out of range
          65  corruption: damaged data that is not a torn tail
          66  not found: no such directory, or not a journal
          73  cannot create: the journal exists, or the directory cannot be made
          74  I/O error, or a failed durable write (reopen to append again)
          75  locked: another process is writing the journal, or another
              reader holds the reader position (retry later)
          76  journal full: the segment limit is reached; truncate to make room
          77  permission denied, or a read-only file system
          78  configuration: newer format, O_DIRECT unsupported (--no-direct),
              io_uring denied with --io-backend io-uring
          79  fell behind: truncation went past a reader position (it retained
              more than the bound)
          70  violation: crash-sim found a broken guarantee (seed on stderr)
          69  unavailable: kv --cluster found no node to serve it in time,
              or kv serve cannot bind its ports or was removed from the cluster
        Each error is one line on stderr: "journalctl-swift: <description>".
        """
}

/// An error the CLI reports: one line of text and an exit code.
public struct CLIError: Error, CustomStringConvertible, Sendable {
    public var code: JournalExitCode
    public var message: String

    public init(_ code: JournalExitCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// The CLI's reading of a journal error.
    public init(_ error: JournalError) {
        switch error {
        case .notFound, .notAJournal: self.init(.notFound, error.description)
        case .alreadyExists: self.init(.cannotCreate, error.description)
        case .newerFormat, .directIOUnsupported, .ioUringUnavailable: self.init(.configuration, error.description)
        case .locked, .positionInUse: self.init(.locked, error.description)
        case .permissionDenied, .readOnlyFileSystem: self.init(.permissionDenied, error.description)
        case .journalFull: self.init(.journalFull, error.description)
        case .recordTooLarge, .lsnOutOfRange: self.init(.usage, error.description)
        case .invalidArgument(let m): self.init(.usage, m)
        case .corruption: self.init(.corruption, error.description)
        case .readerFellBehind: self.init(.fellBehind, error.description)
        case .io(let e):
            // Some storage failures reach the journal's users wrapped as I/O
            // errors (e.g. a segment that cannot be created on a read-only
            // file system): name them as what they are.
            let specific = CLIError(e)
            self.init(specific.code == .ioError ? .ioError : specific.code, specific.code == .ioError ? error.description : specific.message)
        case .poisoned, .closed: self.init(.ioError, error.description)
        }
    }

    /// The CLI's reading of a storage error (opening the directory, probing it).
    public init(_ error: StorageError) {
        if case .ioUringUnavailable = JournalError.from(error) {
            self.init(.configuration, JournalError.from(error).description)
            return
        }
        switch error.errno {
        case .noSuchFileOrDirectory, .notDirectory:
            self.init(.notFound, "journal directory not found: \(error.path) (\(error.errno))")
        case .permissionDenied, .notPermitted:
            self.init(.permissionDenied, "permission denied: \(error.operation) \(error.path)")
        case .readOnlyFileSystem:
            self.init(.permissionDenied, "read-only file system: \(error.operation) \(error.path)")
        case .wouldBlock where error.operation == "flock":
            self.init(.locked, "journal \(error.path) is locked by another writer")
        case .invalidArgument where error.operation == "open O_DIRECT":
            self.init(.configuration, JournalError.directIOUnsupported(path: error.path).description)
        default:
            self.init(.ioError, "I/O error: \(error)")
        }
    }

    /// Any error thrown by a command.
    public static func from(_ error: any Error) -> CLIError? {
        switch error {
        case let e as CLIError: e
        case let e as JournalError: CLIError(e)
        case let e as StorageError: CLIError(e)
        default: nil
        }
    }
}
