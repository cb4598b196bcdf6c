public import JournalStorage
import Synchronization
public import Uring

/// Wraps a real storage and fails chosen durable writes with an errno, to
/// test the journal's reaction without a failing disk (the library tests,
/// and the CLI's `JOURNALCTL_TESTING_FAIL_WRITE` hook). A failed write is
/// never handed to the inner storage: its bytes do not reach the file.
public final class FaultyStorage: StorageDirectory, @unchecked Sendable {
    public let inner: any StorageDirectory
    /// Queue writes numbered from 1; the ones listed complete with `errno`.
    public let failingWrites: Set<Int>
    public let errno: Errno
    let writeCount = Atomic<Int>(0)

    /// Writes submitted so far through this storage's queues.
    public var writesSubmitted: Int { writeCount.load(ordering: .relaxed) }

    public init(_ inner: any StorageDirectory, failingWrites: Set<Int>, errno: Errno = .ioError) {
        self.inner = inner
        self.failingWrites = failingWrites
        self.errno = errno
    }

    public var path: String { inner.path }
    public var ioAlignment: Int { inner.ioAlignment }
    public func fileNames() throws(StorageError) -> [String] { try inner.fileNames() }
    public func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile { try inner.createZeroFilled(name, bytes: bytes) }
    public func open(_ name: String) throws(StorageError) -> any StorageFile { try inner.open(name) }
    public func openReadOnly(_ name: String) throws(StorageError) -> any StorageFile { try inner.openReadOnly(name) }
    public func rename(_ from: String, to: String) throws(StorageError) { try inner.rename(from, to: to) }
    public func renameLazily(_ from: String, to: String) throws(StorageError) { try inner.renameLazily(from, to: to) }
    public func remove(_ name: String) throws(StorageError) { try inner.remove(name) }
    public func lockExclusive() throws(StorageError) -> any StorageLock { try inner.lockExclusive() }
    public func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue {
        FaultyQueue(inner: try inner.makeWriteQueue(depth: depth), owner: self)
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
            try inner.submit(write)
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
