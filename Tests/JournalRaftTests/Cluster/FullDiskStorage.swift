import JournalPrimitives
import JournalStorage
import JournalTesting

/// Whether a node's disk is full: shared by every boot's storage of it.
final class DiskSpace: @unchecked Sendable {
    /// While set, new files (segments, snapshots) fail with `ENOSPC`. The
    /// simulation runs on one thread.
    var isFull = false
}

/// A simulated storage whose disk can fill up: creating a file fails with
/// `ENOSPC` while `space.isFull` (rewriting preallocated files still works,
/// as on a real file system).
final class FullDiskStorage: StorageDirectory, @unchecked Sendable {
    let inner: SimulatedStorage
    let space: DiskSpace

    init(_ inner: SimulatedStorage, space: DiskSpace) {
        self.inner = inner
        self.space = space
    }

    var path: String { inner.path }
    var ioAlignment: Int { inner.ioAlignment }
    func fileNames() throws(StorageError) -> [String] { try inner.fileNames() }

    func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile {
        if space.isFull { throw StorageError("fallocate", path: name, errno: .noSpace) }
        return try inner.createZeroFilled(name, bytes: bytes)
    }

    func open(_ name: String) throws(StorageError) -> any StorageFile { try inner.open(name) }
    func openReadOnly(_ name: String) throws(StorageError) -> any StorageFile { try inner.openReadOnly(name) }
    func rename(_ from: String, to: String) throws(StorageError) { try inner.rename(from, to: to) }
    func renameLazily(_ from: String, to: String) throws(StorageError) { try inner.renameLazily(from, to: to) }
    func remove(_ name: String) throws(StorageError) { try inner.remove(name) }
    func lockExclusive() throws(StorageError) -> any StorageLock { try inner.lockExclusive() }
    func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue { try inner.makeWriteQueue(depth: depth) }
}
