public import JournalStorage
import JournalPrimitives

/// Every way a journal operation can fail. Each case names what went wrong
/// and where, in words a user can act on.
public enum JournalError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The journal directory does not exist.
    case notFound(path: String)
    /// The directory exists but holds no journal (no metadata file, or bad magic).
    case notAJournal(path: String, reason: String)
    /// `create` was asked for a directory that already holds a journal.
    case alreadyExists(path: String)
    /// Written by a newer version of the format than this code reads.
    case newerFormat(path: String, found: UInt32, supported: UInt32)
    /// The file system refuses `O_DIRECT`; `directIO: false` keeps `O_DSYNC`.
    case directIOUnsupported(path: String)
    /// Another process (or another `Journal` in this one) holds the writer lock.
    case locked(path: String)
    /// The process may not read or write the journal's files.
    case permissionDenied(path: String)
    /// Opening for appending on a read-only file system (use
    /// `openForReading`).
    case readOnlyFileSystem(path: String)
    /// The journal holds its configured maximum number of segments; truncate
    /// to make room.
    case journalFull(segmentCountMax: Int)
    /// A payload larger than `JournalConfiguration.recordBytesMax`; nothing
    /// was appended.
    case recordTooLarge(bytes: Int, max: Int)
    /// Damaged data that is not a torn tail: valid records follow it. Use
    /// salvage mode to read past it.
    case corruption(segment: String, offset: Int, detail: String)
    /// An I/O operation failed.
    case io(StorageError)
    /// A durable write or sync failed earlier; the journal accepts nothing
    /// more until it is reopened (its state on disk is unknown).
    case poisoned(StorageError)
    /// The journal was closed.
    case closed
    /// The LSN is not in the journal below the durable watermark.
    case lsnOutOfRange(requested: LSN, first: LSN, durable: LSN)
    /// A reader position (named, or unnamed: `name` empty) needed `lsn`,
    /// and truncation released it: the position retained more than
    /// `JournalOptions.retainedBytesMax`, so truncation went past it
    /// (`oldest` is the journal's oldest LSN now).
    case readerFellBehind(name: String, lsn: LSN, oldest: LSN)
    /// The named reader position is held by another consumer (a follower
    /// or handle in this process or another, that advanced it or follows
    /// from it): one consumer per position. It is free again once that
    /// handle is released, or its process ends (even killed).
    case positionInUse(name: String)
    /// An argument or option out of its domain, or a write to a journal
    /// open for reading; the text names it.
    case invalidArgument(String)
    /// io_uring was required (`JournalIOBackend.ioUring`) but the kernel
    /// denies it (`io_uring_setup` fails, as under a container's seccomp
    /// profile) or the file system cannot keep its writes durable (FUSE).
    case ioUringUnavailable(StorageError)

    /// One line naming what failed and where.
    public var description: String {
        switch self {
        case .notFound(let p): "journal directory not found: \(p)"
        case .notAJournal(let p, let r): "not a journal: \(p) (\(r))"
        case .alreadyExists(let p): "a journal already exists in \(p)"
        case .newerFormat(let p, let f, let s): "\(p) uses format version \(f); this build reads up to \(s)"
        case .directIOUnsupported(let p): "the file system of \(p) does not support O_DIRECT (use --no-direct to keep O_DSYNC without direct I/O)"
        case .locked(let p): "journal \(p) is locked by another writer"
        case .permissionDenied(let p): "permission denied: \(p)"
        case .readOnlyFileSystem(let p): "read-only file system: \(p)"
        case .journalFull(let n): "journal full: it holds its limit of \(n) segments; truncate to make room"
        case .recordTooLarge(let b, let m): "record of \(b) bytes exceeds the maximum of \(m) bytes"
        case .corruption(let s, let o, let d): "corruption in segment \(s) at offset \(o): \(d)"
        case .io(let e): "I/O error: \(e)"
        case .poisoned(let e): "journal refuses writes after a failed durable write (\(e)); reopen it"
        case .closed: "journal is closed"
        case .lsnOutOfRange(let r, let f, let d): "LSN \(r) is not in the journal (first \(f), durable \(d))"
        case .readerFellBehind(let n, let l, let o) where n.isEmpty:
            "reader fell behind: it needs LSN \(l) but truncation went past it (oldest \(o)): it retained more than retainedBytesMax"
        case .readerFellBehind(let n, let l, let o):
            "reader position '\(n)' fell behind: it needs LSN \(l) but truncation went past it (oldest \(o)): it retained more than retainedBytesMax"
        case .positionInUse(let n): "reader position '\(n)' is in use by another reader (one consumer per position)"
        case .invalidArgument(let m): "invalid argument: \(m)"
        case .ioUringUnavailable(let e) where e.operation == "io_uring on FUSE":
            "io_uring cannot be used on the FUSE file system of \(e.path): its writes skip the data sync (use --io-backend threads or auto)"
        case .ioUringUnavailable(let e):
            "io_uring is unavailable: io_uring_setup failed with \(e.errno) (errno \(e.errno.rawValue)), as under a container's seccomp profile (use --io-backend threads or auto)"
        }
    }

    /// Maps a storage failure to the error a user can act on.
    public static func from(_ error: StorageError) -> JournalError {
        // The operations JournalFileStorage names when io_uring is required
        // and cannot be used (IOBackendSelection.deniedOperation, .fuseOperation).
        if error.operation == "io_uring_setup" || error.operation == "io_uring on FUSE" { return .ioUringUnavailable(error) }
        return switch error.errno {
        case .noSuchFileOrDirectory, .notDirectory: .notFound(path: error.path)
        case .permissionDenied, .notPermitted: .permissionDenied(path: error.path)
        case .readOnlyFileSystem: .readOnlyFileSystem(path: error.path)
        case .wouldBlock where error.operation == "flock": .locked(path: error.path)
        case .invalidArgument where error.operation == "open O_DIRECT": .directIOUnsupported(path: error.path)
        default: .io(error)
        }
    }
}
