public import JournalPrimitives

// The storage seam.
//
// Every byte the journal (and, later, the page store's snapshots) puts on or
// reads from stable storage goes through these three protocols, so that a
// simulated disk can stand in for the real one and cut the power between any
// two I/O operations.
//
// The contract the journal relies on, and that every implementation keeps:
// - A write handed to a `StorageWriteQueue` is durable when its completion is
//   reported with a full byte count: it survives a power cut from then on.
//   Until then it may survive whole, not at all, or torn at sector
//   granularity.
// - Completions may be reported in any order.
// - Directory changes (`createZeroFilled`, `rename`, `remove`) are durable
//   when the call returns.
// - A read-only mapping shows the latest bytes written to the file, including
//   writes whose completion has not been reported yet; callers read it only
//   below their durable watermark.

/// A failed storage operation: which operation, on what, and the errno.
public struct StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The operation that failed, e.g. "open", "pwrite", "io_uring write".
    public var operation: String
    /// The file or directory name the operation was applied to.
    public var path: String
    /// The system error.
    public var errno: Errno

    public init(_ operation: String, path: String, errno: Errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String { "\(operation) \(path): \(errno) (errno \(errno.rawValue))" }
}

/// A directory of files on stable storage: the journal's or a store's.
///
/// Implementations are safe to call from any thread.
public protocol StorageDirectory: AnyObject, Sendable {
    /// Human-readable location, for messages.
    var path: String { get }

    /// The alignment, in bytes, of offsets, lengths and buffer addresses of
    /// every write given to a write queue (`STATX_DIOALIGN`, or 4096 when the
    /// file system does not say). A power of two.
    var ioAlignment: Int { get }

    /// The names of the regular files in the directory, unsorted.
    func fileNames() throws(StorageError) -> [String]

    /// Creates `name` (which must not exist) holding `bytes` zero bytes that
    /// are really written, not a hole or an unwritten extent, so that later
    /// durable overwrites need no metadata update (on a file system that
    /// persists nothing, such as tmpfs, allocated pages that read as zeros
    /// are the same). Durable, directory entry included, when it returns.
    func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile

    /// Opens an existing file for reading and durable writing.
    func open(_ name: String) throws(StorageError) -> any StorageFile

    /// Opens an existing file for reading only (works on a read-only file
    /// system). `writeDurably` on the result fails.
    func openReadOnly(_ name: String) throws(StorageError) -> any StorageFile

    /// Renames `from` to `to`, replacing `to` if it exists. Durable when it
    /// returns.
    func rename(_ from: String, to: String) throws(StorageError)

    /// Removes `name`. Durable when it returns.
    func remove(_ name: String) throws(StorageError)

    /// Renames `from` to `to` without waiting for the change to be durable:
    /// a later durable directory change (`rename`, `remove`,
    /// `createZeroFilled`) makes it durable too. For changes a crash may undo.
    func renameLazily(_ from: String, to: String) throws(StorageError)

    /// Takes the directory's exclusive writer lock, or fails with
    /// `EWOULDBLOCK` when another writer holds it. The lock is held until the
    /// returned object is released.
    func lockExclusive() throws(StorageError) -> any StorageLock

    /// Takes an exclusive lock on the file `name` (created empty if absent,
    /// and never removed by this call), or fails with `EWOULDBLOCK` while
    /// another holder has it: another process, or another call in this one.
    /// The lock belongs to the returned object, not to the process: it is
    /// held until the object is released or `unlock()` is called, and the
    /// kernel drops it when the holding process dies.
    func lockFile(_ name: String) throws(StorageError) -> any StorageLock

    /// Makes a write queue with room for `depth` writes in flight. The queue
    /// belongs to the thread that calls this and must only be used from it,
    /// except for its `waker`.
    func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue

    /// Maps the file `name` shared and writable, `bytes` long: created
    /// zero-filled if absent and `create` allows, extended with zeros if
    /// shorter. Throws ENODEV (or the mapping's errno) where the file system
    /// cannot map files shared.
    func mapShared(_ name: String, bytes: Int, create: Bool) throws(StorageError) -> any StorageSharedMapping
}

extension StorageWriteQueue {
    /// Queues that start each write in `submit` have nothing to flush.
    public func flush() throws(StorageError) {}
}

extension StorageDirectory {
    /// Storage without a cheaper path renames durably.
    public func renameLazily(_ from: String, to: String) throws(StorageError) {
        try rename(from, to: to)
    }

    /// Storage that cannot tell the two apart opens files read-write.
    public func openReadOnly(_ name: String) throws(StorageError) -> any StorageFile {
        try open(name)
    }

    /// Storage without file locks (a test's wrapper) excludes nothing: its
    /// lock is always granted.
    public func lockFile(_ name: String) throws(StorageError) -> any StorageLock {
        UnsharedLock()
    }

    /// Storage without files other processes can map (a simulated disk)
    /// offers no shared mappings.
    public func mapShared(_ name: String, bytes: Int, create: Bool) throws(StorageError) -> any StorageSharedMapping {
        throw StorageError("mmap MAP_SHARED", path: path + "/" + name, errno: .noDevice)
    }
}

/// Whether the directory still names a mapped file by the name it was
/// mapped under.
public enum StorageFileLink: Sendable, Equatable {
    /// The name leads to the mapped file.
    case linked
    /// The file was removed (or its directory was): no name leads to it, or
    /// the name leads nowhere.
    case removed
    /// The name leads to another file (the file, or its directory, was
    /// replaced).
    case replaced
}

/// A file mapped shared and writable: every process that maps the same file
/// sees the others' stores at once (the journal's follow file). Unmapped
/// when released.
public protocol StorageSharedMapping: AnyObject, Sendable {
    var bytes: UnsafeMutableRawBufferPointer { get }
    /// Whether the file is still the one its name leads to. One `fstat` and
    /// one `stat`: for a periodic check, not a hot path.
    func link() -> StorageFileLink
}

/// An exclusive hold on a directory; released when the object goes away or
/// `unlock()` is called.
public protocol StorageLock: AnyObject, Sendable {
    func unlock()
}

/// The lock of storage that has no file locks: it holds nothing.
private final class UnsharedLock: StorageLock {
    func unlock() {}
}

/// An open file in a `StorageDirectory`.
public protocol StorageFile: AnyObject, Sendable {
    /// The file's name in its directory.
    var name: String { get }
    /// The file's size in bytes when it was opened or created.
    var size: Int { get }

    /// Reads up to `buffer.count` bytes at `offset`; returns the count read
    /// (short only at end of file). Any alignment.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int

    /// Writes `bytes` at `offset` and returns once they are durable. Offset,
    /// length and address aligned to `ioAlignment`. For rare writes
    /// (metadata); the journal's appends go through a write queue.
    func writeDurably(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError)

    /// Maps the whole file read-only. The mapping shows writes as they land.
    func mapReadOnly() throws(StorageError) -> any StorageMapping

    /// Closes the file. Mappings stay valid until released.
    func close()
}

/// A read-only view of a file's bytes. Unmapped when released.
public protocol StorageMapping: AnyObject, Sendable {
    var bytes: UnsafeRawBufferPointer { get }
}

/// One durable write: `count` bytes from `buffer` to `file` at `offset`.
/// `tag` comes back with its completion.
public struct StorageWrite: @unchecked Sendable {
    public var file: any StorageFile
    public var offset: Int
    public var buffer: UnsafeRawPointer
    public var count: Int
    public var tag: UInt64

    public init(file: any StorageFile, offset: Int, buffer: UnsafeRawPointer, count: Int, tag: UInt64) {
        self.file = file
        self.offset = offset
        self.buffer = buffer
        self.count = count
        self.tag = tag
    }
}

/// The completion of a `StorageWrite`: the byte count written or the error.
public struct StorageCompletion: Sendable {
    public var tag: UInt64
    public var result: Result<Int, StorageError>

    public init(tag: UInt64, result: Result<Int, StorageError>) {
        self.tag = tag
        self.result = result
    }
}

/// Wakes a queue's owner from `waitForCompletions`. Callable from any thread.
public protocol StorageWaker: Sendable {
    func wake()
}

/// A queue of durable writes, owned by one thread.
///
/// Each write is durable (written with `O_DSYNC` or `RWF_DSYNC`) by the time
/// its completion is reported. Several writes may be in flight; they may
/// complete in any order.
public protocol StorageWriteQueue: AnyObject {
    /// The most writes that may be in flight at once.
    var depth: Int { get }
    /// Writes submitted whose completion has not been reported.
    var inFlightCount: Int { get }
    /// Wakes the owner from `waitForCompletions`; safe from any thread.
    var waker: any StorageWaker { get }

    /// Queues `write`. Requires `inFlightCount < depth` and an aligned write.
    /// The write starts no later than the next `flush` or wait.
    func submit(_ write: StorageWrite) throws(StorageError)

    /// Starts every write queued by `submit` (one system call for all).
    func flush() throws(StorageError)

    /// Reports the completions that are ready, without blocking. Returns how
    /// many there were.
    @discardableResult
    func pollCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int

    /// Blocks until at least one completion is ready or `waker.wake()` was
    /// called since the last wait, then reports the ready completions.
    @discardableResult
    func waitForCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int
}
