internal import CJournalShims
import JournalStorage
import JournalPrimitives

#if canImport(Glibc)
import Glibc
#endif

/// Durable writes issued by a small fixed pool of threads, for hosts that
/// deny io_uring (container seccomp profiles, gVisor,
/// `kernel.io_uring_disabled`). Each thread takes one write at a time and
/// issues it with `pwritev2(..., RWF_DSYNC)` on the file's `O_DSYNC`
/// descriptor, so a write is durable when its thread reports it; with one
/// thread per slot, up to `depth` writes are on the disk at once, as with the
/// ring. Completions come back in the order the disk finishes them.
final class ThreadWriteQueue: StorageWriteQueue {
    /// The most I/O threads one queue starts. The journal's depth is at most
    /// 64 (`inFlightBatchesMax`); a deeper queue shares these threads, its
    /// extra writes waiting in submission order, so a caller's depth never
    /// turns into hundreds of threads.
    static let threadsMax = 64
    let depth: Int
    /// How many I/O threads this queue runs: one per slot, up to `threadsMax`.
    var threadCount: Int { threads.count }
    private(set) var inFlightCount = 0
    let waker: any StorageWaker
    private let alignment: Int
    private let shared: ThreadWriteQueueState
    private var threads: [JoinableThread] = []
    /// Writes submitted since the last flush, handed to the threads together.
    private var staged: [StorageWrite] = []

    /// `fault`, for tests only, runs on the I/O thread before each write and
    /// may block (to reorder completions) or return an errno to report
    /// instead of writing. `syncEachWrite` adds an `fdatasync` after each
    /// write, for file systems where `RWF_DSYNC` is not enough (FUSE).
    init(depth: Int, alignment: Int, syncEachWrite: Bool, counters: StorageCounters, fault: WriteFault?) {
        precondition(depth > 0 && depth <= 1024)
        self.depth = depth
        self.alignment = alignment
        let state = ThreadWriteQueueState(syncEachWrite: syncEachWrite, counters: counters, fault: fault)
        shared = state
        waker = ThreadQueueWaker(state: state)
        // One thread per write in flight: a thread blocks in its write until
        // the disk has the bytes, so fewer would cap the writes on the disk.
        threads = (0..<min(depth, Self.threadsMax)).map { i in
            JoinableThread(name: "journal-io-\(i)") { state.runWorker() }
        }
    }

    deinit {
        // The threads finish the writes handed to them (the owner's buffers
        // must outlive them) and then exit.
        shared.stop(adding: staged)
        for thread in threads { thread.join() }
    }

    func submit(_ write: StorageWrite) throws(StorageError) {
        precondition(inFlightCount < depth, "write queue overfull")
        precondition(write.offset % alignment == 0 && write.count % alignment == 0, "unaligned write")
        precondition(Int(bitPattern: write.buffer) % alignment == 0, "unaligned buffer")
        precondition(write.file is FileSystemFile, "a FileSystemStorage queue writes FileSystemStorage files")
        staged.append(write)
        inFlightCount += 1
    }

    func flush() throws(StorageError) {
        guard !staged.isEmpty else { return }
        shared.enqueue(staged)
        staged.removeAll(keepingCapacity: true)
    }

    func pollCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        try flush()
        return report(shared.takeCompletions(blocking: false).completions, body)
    }

    func waitForCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        try flush()
        return report(shared.takeCompletions(blocking: true).completions, body)
    }

    private func report(_ completions: [StorageCompletion], _ body: (StorageCompletion) -> Void) -> Int {
        inFlightCount -= completions.count
        assert(inFlightCount >= 0, "more completions than writes")
        for c in completions { body(c) }
        return completions.count
    }
}

/// The test hook of a thread queue: called with each write's tag and offset
/// on its I/O thread; an errno makes that write fail without reaching the disk.
typealias WriteFault = @Sendable (_ tag: UInt64, _ offset: Int) -> Errno?

/// What the owner and the I/O threads share, under one lock.
final class ThreadWriteQueueState: @unchecked Sendable {
    // @unchecked: every var below is touched only with `lock` held.
    private let lock = ConditionLock()
    private let workAvailable: ConditionLock.Condition
    private let owner = Parker()
    private var pending: [StorageWrite] = []
    private var pendingHead = 0
    private var completed: [StorageCompletion] = []
    private var woken = false
    private var stopping = false
    private let syncEachWrite: Bool
    private let counters: StorageCounters
    private let fault: WriteFault?

    init(syncEachWrite: Bool, counters: StorageCounters, fault: WriteFault?) {
        self.syncEachWrite = syncEachWrite
        self.counters = counters
        self.fault = fault
        workAvailable = ConditionLock.Condition(lock)
    }

    func enqueue(_ writes: [StorageWrite]) {
        lock.withLock {
            pending.append(contentsOf: writes)
            if writes.count == 1 { workAvailable.signal() } else { workAvailable.broadcast() }
        }
    }

    func stop(adding writes: [StorageWrite]) {
        lock.withLock {
            pending.append(contentsOf: writes)
            stopping = true
            workAvailable.broadcast()
        }
    }

    func wake() {
        lock.withLock { woken = true }
        owner.unpark()
    }

    /// The completions reported since the last call. When `blocking`, waits
    /// until there is one or `wake()` was called.
    func takeCompletions(blocking: Bool) -> (completions: [StorageCompletion], woken: Bool) {
        while true {
            lock.lock()
            if !completed.isEmpty || woken || !blocking {
                let result = (completed, woken)
                completed.removeAll(keepingCapacity: true)
                // A wake-up is for the next wait; a poll leaves it.
                if blocking { woken = false }
                lock.unlock()
                return result
            }
            lock.unlock()
            // An unpark since the last park returns at once; the loop then
            // re-checks under the lock, so none is lost.
            owner.park()
        }
    }

    /// An I/O thread: takes writes in submission order until stopped with
    /// none left.
    func runWorker() {
        while let write = next() {
            let result = perform(write)
            lock.withLock { completed.append(StorageCompletion(tag: write.tag, result: result)) }
            owner.unpark()
        }
    }

    private func next() -> StorageWrite? {
        lock.withLock {
            while pendingHead == pending.count && !stopping { workAvailable.wait() }
            guard pendingHead < pending.count else { return nil }
            let write = pending[pendingHead]
            pendingHead += 1
            if pendingHead == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingHead = 0
            }
            return write
        }
    }

    private func perform(_ write: StorageWrite) -> Result<Int, StorageError> {
        guard let file = write.file as? FileSystemFile else {
            preconditionFailure("a FileSystemStorage queue writes FileSystemStorage files")
        }
        if let fault, let e = fault(write.tag, write.offset) {
            return .failure(StorageError("pwritev2", path: file.name, errno: e))
        }
        var done = 0
        while done < write.count {
            let n = cjournal_pwrite_dsync(file.fd, write.buffer + done, write.count - done, Int64(write.offset + done))
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                return .failure(StorageError("pwritev2", path: file.name, errno: Errno(rawValue: Glibc.errno)))
            }
            // No progress: the device is out of space or failed part way.
            if n == 0 { return .failure(StorageError("pwritev2 (short)", path: file.name, errno: .noSpace)) }
            done += n
        }
        if syncEachWrite {
            counters.countExplicitSync()
            if let e = file.syncData() { return .failure(StorageError("fdatasync", path: file.name, errno: e)) }
        }
        return .success(done)
    }
}

struct ThreadQueueWaker: StorageWaker {
    let state: ThreadWriteQueueState
    func wake() { state.wake() }
}
