internal import CJournalShims
import JournalStorage
import JournalPrimitives

#if canImport(Glibc)
import Glibc
#endif

/// Durable writes made by the queue's owner itself, one after another, in
/// `flush`: for file systems where a write is a copy into memory (tmpfs),
/// on which io_uring cannot complete a write when it is submitted and hands
/// every one to a worker thread of its own. There a write through the ring
/// costs three wake-ups (the owner, the worker, the owner again for the
/// completion) where the copy itself takes a few microseconds; written by
/// the owner, it costs none, and the records placed meanwhile gather in the
/// next batch.
///
/// Each write is a `pwritev2(..., RWF_DSYNC)` on the file's `O_DSYNC`
/// descriptor, as the thread backend's, so it is durable when `flush`
/// returns; its completion is reported by the next poll or wait.
final class OwnerThreadWriteQueue: StorageWriteQueue {
    let depth: Int
    private(set) var inFlightCount = 0
    let waker: any StorageWaker
    private let alignment: Int
    private let owner = Parker()
    /// Writes submitted since the last flush, written by the next one.
    private var staged: [StorageWrite] = []
    /// Writes done, to report.
    private var completed: [StorageCompletion] = []

    init(depth: Int, alignment: Int) {
        precondition(depth > 0 && depth <= 1024)
        self.depth = depth
        self.alignment = alignment
        waker = ParkerWaker(parker: owner)
    }

    func submit(_ write: StorageWrite) throws(StorageError) {
        write.checkSubmittable(inFlightCount: inFlightCount, depth: depth, alignment: alignment)
        staged.append(write)
        inFlightCount += 1
    }

    func flush() throws(StorageError) {
        for write in staged {
            completed.append(StorageCompletion(tag: write.tag, result: Self.perform(write)))
        }
        staged.removeAll(keepingCapacity: true)
    }

    func pollCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        try flush()
        return report(body)
    }

    /// Reports the writes done; with none, sleeps until woken (a wake-up
    /// that came first returns at once) and reports none.
    func waitForCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        try flush()
        if completed.isEmpty {
            owner.park()
            return 0
        }
        return report(body)
    }

    private func report(_ body: (StorageCompletion) -> Void) -> Int {
        let count = completed.count
        inFlightCount -= count
        assert(inFlightCount >= 0, "more completions than writes")
        for c in completed { body(c) }
        completed.removeAll(keepingCapacity: true)
        return count
    }

    private static func perform(_ write: StorageWrite) -> Result<Int, StorageError> {
        guard let file = write.file as? FileSystemFile else {
            preconditionFailure("a FileSystemStorage queue writes FileSystemStorage files")
        }
        return file.writeDSync(write.buffer, count: write.count, at: write.offset)
    }
}

extension StorageWrite {
    /// What the queues that stage writes for a thread require of a write.
    func checkSubmittable(inFlightCount: Int, depth: Int, alignment: Int) {
        precondition(inFlightCount < depth, "write queue overfull")
        precondition(offset % alignment == 0 && count % alignment == 0, "unaligned write")
        precondition(Int(bitPattern: buffer) % alignment == 0, "unaligned buffer")
        precondition(file is FileSystemFile, "a FileSystemStorage queue writes FileSystemStorage files")
    }
}

extension FileSystemFile {
    /// Writes `count` bytes with `pwritev2(..., RWF_DSYNC)`, retrying
    /// `EINTR` and partial writes: the write of the queues that write from
    /// a thread of their own.
    func writeDSync(_ buffer: UnsafeRawPointer, count: Int, at offset: Int) -> Result<Int, StorageError> {
        var done = 0
        while done < count {
            let n = cjournal_pwrite_dsync(fd, buffer + done, count - done, Int64(offset + done))
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                return .failure(StorageError("pwritev2", path: name, errno: Errno(rawValue: Glibc.errno)))
            }
            // No progress: the device is out of space or failed part way.
            if n == 0 { return .failure(StorageError("pwritev2 (short)", path: name, errno: .noSpace)) }
            done += n
        }
        return .success(done)
    }
}

struct ParkerWaker: StorageWaker {
    let parker: Parker
    func wake() { parker.unpark() }
}
