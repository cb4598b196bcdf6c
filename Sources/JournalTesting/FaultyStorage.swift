public import JournalStorage
import Synchronization
public import JournalPrimitives

/// Wraps a real storage and fails chosen durable writes with an errno, to
/// test the journal's reaction without a failing disk (the library tests,
/// and the CLI's `JOURNALCTL_TESTING_FAIL_WRITE` hook). Durable writes are
/// the writes of its queues and `writeDurably` on the files it opens (the
/// journal's inline writes), numbered together. A failed write is never
/// handed to the inner storage: its bytes do not reach the file.
public final class FaultyStorage: StorageDirectory, @unchecked Sendable {
    public let inner: any StorageDirectory
    /// Durable writes numbered from 1; the ones listed fail with `errno`.
    public let failingWrites: Set<Int>
    public let errno: Errno
    let writeCount = Atomic<Int>(0)

    /// Durable writes made so far through this storage (queues and files).
    public var writesSubmitted: Int { writeCount.load(ordering: .relaxed) }

    /// Whether `mapShared` refuses, as on a file system without shared
    /// memory support (mmap's ENODEV), instead of asking the inner storage.
    public let refusesSharedMappings: Bool

    public init(_ inner: any StorageDirectory, failingWrites: Set<Int>, errno: Errno = .ioError, refusesSharedMappings: Bool = false) {
        self.inner = inner
        self.failingWrites = failingWrites
        self.errno = errno
        self.refusesSharedMappings = refusesSharedMappings
    }

    public var path: String { inner.path }
    public var ioAlignment: Int { inner.ioAlignment }
    public func fileNames() throws(StorageError) -> [String] { try inner.fileNames() }
    public func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile {
        FaultyFile(inner: try inner.createZeroFilled(name, bytes: bytes), owner: self)
    }
    public func open(_ name: String) throws(StorageError) -> any StorageFile { FaultyFile(inner: try inner.open(name), owner: self) }
    public func openReadOnly(_ name: String) throws(StorageError) -> any StorageFile { try inner.openReadOnly(name) }
    public func rename(_ from: String, to: String) throws(StorageError) { try inner.rename(from, to: to) }
    public func renameLazily(_ from: String, to: String) throws(StorageError) { try inner.renameLazily(from, to: to) }
    public func remove(_ name: String) throws(StorageError) { try inner.remove(name) }
    public func lockExclusive() throws(StorageError) -> any StorageLock { try inner.lockExclusive() }
    public func lockFile(_ name: String) throws(StorageError) -> any StorageLock { try inner.lockFile(name) }
    public func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue {
        FaultyQueue(inner: try inner.makeWriteQueue(depth: depth), owner: self)
    }
    public func mapShared(_ name: String, bytes: Int, create: Bool) throws(StorageError) -> any StorageSharedMapping {
        if refusesSharedMappings { throw StorageError("mmap MAP_SHARED", path: path + "/" + name, errno: .noDevice) }
        return try inner.mapShared(name, bytes: bytes, create: create)
    }
}

/// The write queue of a `FaultyStorage`.
final class FaultyQueue: StorageWriteQueue {
    let inner: any StorageWriteQueue
    let owner: FaultyStorage
    var failed: [StorageCompletion] = []

    init(inner: any StorageWriteQueue, owner: FaultyStorage) {
        self.inner = inner
        self.owner = owner
    }

    var depth: Int { inner.depth }
    var inFlightCount: Int { inner.inFlightCount + failed.count }
    var waker: any StorageWaker { inner.waker }

    func submit(_ write: StorageWrite) throws(StorageError) {
        let n = owner.writeCount.add(1, ordering: .relaxed).newValue
        if owner.failingWrites.contains(n) {
            failed.append(StorageCompletion(tag: write.tag, result: .failure(StorageError("io_uring write", path: write.file.name, errno: owner.errno))))
            inner.waker.wake()
        } else {
            var unwrapped = write
            if let file = write.file as? FaultyFile { unwrapped.file = file.inner }
            try inner.submit(unwrapped)
        }
    }

    func flush() throws(StorageError) { try inner.flush() }

    private func drainFailed(_ body: (StorageCompletion) -> Void) -> Int {
        let f = failed
        failed.removeAll()
        f.forEach(body)
        return f.count
    }

    func pollCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        drainFailed(body) + (try inner.pollCompletions(body))
    }

    func waitForCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        let n = drainFailed(body)
        if n > 0 { return n + (try inner.pollCompletions(body)) }
        return try inner.waitForCompletions(body)
    }
}

/// A file of a `FaultyStorage`: its `writeDurably` counts as a durable write
/// and fails when its number is listed.
final class FaultyFile: StorageFile, @unchecked Sendable {
    let inner: any StorageFile
    let owner: FaultyStorage

    init(inner: any StorageFile, owner: FaultyStorage) {
        self.inner = inner
        self.owner = owner
    }

    var name: String { inner.name }
    var size: Int { inner.size }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int {
        try inner.read(into: buffer, at: offset)
    }

    func writeDurably(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError) {
        let n = owner.writeCount.add(1, ordering: .relaxed).newValue
        if owner.failingWrites.contains(n) { throw StorageError("pwrite", path: inner.name, errno: owner.errno) }
        try inner.writeDurably(bytes, at: offset)
    }

    func mapReadOnly() throws(StorageError) -> any StorageMapping { try inner.mapReadOnly() }
    func close() { inner.close() }
}
