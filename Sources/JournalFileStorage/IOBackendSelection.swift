internal import CJournalShims
import Uring
public import Journal
import JournalStorage
import JournalPrimitives
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The write mechanism a `FileSystemStorage` uses, and why it was chosen.
public struct IOBackendChoice: Sendable, Equatable, CustomStringConvertible {
    /// `.ioUring` or `.threads`, never `.automatic`.
    public var backend: JournalIOBackend
    /// One sentence, for logs, `inspect` and `demo`.
    public var reason: String
    /// An `fdatasync` follows every durable write (FUSE: see
    /// `IOBackendSelection.fuseMagic`).
    public var syncsEachWrite: Bool

    public var description: String { "\(backend.rawValue) (\(reason))" }
}

/// The choice of write mechanism at open.
enum IOBackendSelection {
    /// `statfs` type of FUSE. Writes there go to a user-space server; with
    /// io_uring, writes to an `O_DIRECT|O_DSYNC` file reach it without the
    /// sync that `pwrite` gets (kernel 6.18), so acknowledged records could
    /// be lost at power failure. There the thread backend adds an explicit
    /// `fdatasync` after each write, and io_uring is refused.
    static let fuseMagic: Int64 = 0x6573_5546

    /// The StorageError operations that mean "io_uring cannot be used here";
    /// `JournalError.from` reads them as `.ioUringUnavailable`.
    static let deniedOperation = "io_uring_setup"
    static let fuseOperation = "io_uring on FUSE"

    /// Whether io_uring works in this process: nil, or why not. Probed once.
    static let ioUringFailure: Errno? = probeIOUring()
    /// The fallback is logged once per process, not once per directory.
    private static let fallbackLogged = LockedValue(false)

    /// Chooses the backend for a directory on a file system of type
    /// `fileSystemType`.
    ///
    /// - Throws: a `StorageError` with operation `deniedOperation` or
    ///   `fuseOperation` when `.ioUring` is requested and cannot be used.
    static func choose(
        _ requested: JournalIOBackend, fileSystemType: Int64, path: String, logger: Logger
    ) throws(StorageError) -> IOBackendChoice {
        let fuse = fileSystemType == fuseMagic
        let by = requested == .automatic ? "set by \(environmentVariable)" : "requested"
        switch requested == .automatic ? environmentOverride ?? .automatic : requested {
        case .threads:
            return IOBackendChoice(backend: .threads, reason: fuse ? by + "; FUSE: fdatasync after each write" : by, syncsEachWrite: fuse)
        case .ioUring:
            if fuse { throw StorageError(fuseOperation, path: path, errno: .invalidArgument) }
            if let e = ioUringFailure { throw StorageError(deniedOperation, path: path, errno: e) }
            return IOBackendChoice(backend: .ioUring, reason: by, syncsEachWrite: false)
        case .automatic:
            let choice: IOBackendChoice
            if fuse {
                choice = IOBackendChoice(backend: .threads, reason: "FUSE file system: io_uring writes there skip the data sync; fdatasync after each write", syncsEachWrite: true)
            } else if let e = ioUringFailure {
                choice = IOBackendChoice(backend: .threads, reason: "io_uring_setup failed with \(e) (errno \(e.rawValue)), as under a container's seccomp profile", syncsEachWrite: false)
            } else {
                return IOBackendChoice(backend: .ioUring, reason: "io_uring_setup works", syncsEachWrite: false)
            }
            let first = fallbackLogged.withLock { logged in
                defer { logged = true }
                return !logged
            }
            if first { logger.notice("durable writes use the thread backend: \(choice.reason)") }
            return choice
        }
    }

    /// `SWIFT_JOURNAL_IO_BACKEND` (`auto`, `io-uring`, `threads`): what
    /// `.automatic` means in this process, so that an operator (or a test
    /// run) can pick the backend of an application that does not expose the
    /// option. Explicit choices win over it; other values are ignored.
    static let environmentOverride: JournalIOBackend? = {
        guard let raw = getenv(environmentVariable) else { return nil }
        return JournalIOBackend(rawValue: String(cString: raw))
    }()
    static let environmentVariable = "SWIFT_JOURNAL_IO_BACKEND"

    /// Sets up a ring and takes one completion through it (a poll of a
    /// signalled eventfd), so that both `io_uring_setup` and
    /// `io_uring_enter` are known to work.
    private static func probeIOUring() -> Errno? {
        var ring: IORing
        do { ring = try IORing(entries: 2) } catch { return error }
        let fd = cjournal_eventfd()
        if fd < 0 { return Errno(rawValue: Glibc.errno) }
        defer { _ = Glibc.close(fd) }
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
        guard ring.preparePollIn(fd: fd, tag: 1) else { return .resourceBusy }
        do { try ring.submit(waitingFor: 1) } catch { return error }
        var result: Int32 = 0
        ring.reapCompletions { result = $0.result }
        return result < 0 ? Errno(rawValue: -result) : nil
    }
}

/// Counts, for tests, of what the storage did beyond plain writes.
final class StorageCounters: Sendable {
    private let explicitSyncs = LockedValue(0)
    func countExplicitSync() { explicitSyncs.withLock { $0 += 1 } }
    var explicitSyncCount: Int { explicitSyncs.withLock { $0 } }
}
