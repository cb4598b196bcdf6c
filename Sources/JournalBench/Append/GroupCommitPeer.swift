#if canImport(Glibc)
import Glibc
#endif

/// The group commit a user would write by hand, as a peer of the journal:
/// appenders hand their record (a 4-byte length, then the bytes) to a shared
/// batch under a mutex; whoever finds no leader at work becomes the leader,
/// takes the whole batch, writes it with one buffered `pwrite`, calls
/// `fdatasync`, then marks the batch durable and wakes its waiters. Records
/// that arrive meanwhile form the next batch, written by the next leader.
///
/// The file is a regular buffered file (no `O_DIRECT`) written once with
/// zeros, so that `fdatasync` never commits allocation metadata; batches go
/// sequentially and wrap to the start at the end (a recycled log). No
/// checksums, no headers beyond the length: a lower bound on what a log
/// costs in software.
final class GroupCommitLog: @unchecked Sendable {
    // @unchecked: every mutable field is read and written with `mutex` held,
    // except `writing`, which only the single leader touches between taking
    // the batch and publishing it durable.

    let path: String
    private let fd: Int32
    private let fileBytes: Int
    private let batchBytesMax: Int
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let batchDurable: UnsafeMutablePointer<pthread_cond_t>
    private var pending: UnsafeMutableRawPointer
    private var writing: UnsafeMutableRawPointer
    private var pendingBytes = 0
    /// The number of the batch being filled; batches below it were taken.
    private var openBatch: UInt64 = 1
    private var durableBatch: UInt64 = 0
    private var leaderActive = false
    private var writeOffset = 0
    private var failure: Int32 = 0

    /// Creates `path` filled with `fileBytes` zeros (durable), ready for
    /// `appenders` concurrent appenders of records up to `recordBytesMax`.
    init(path: String, fileBytes: Int, appenders: Int, recordBytesMax: Int) throws(BenchError) {
        try FioRunner.prepareFile(path, bytes: fileBytes)
        let fd = open(path, O_WRONLY)
        if fd < 0 { throw BenchError("cannot open \(path): \(String(cString: strerror(errno)))") }
        self.path = path
        self.fd = fd
        // Each appender has at most one record in the open batch.
        batchBytesMax = appenders * (recordBytesMax + 4)
        precondition(batchBytesMax <= fileBytes, "a batch fits the file")
        self.fileBytes = fileBytes
        pending = .allocate(byteCount: batchBytesMax, alignment: 4096)
        writing = .allocate(byteCount: batchBytesMax, alignment: 4096)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        batchDurable = .allocate(capacity: 1)
        pthread_cond_init(batchDurable, nil)
    }

    deinit {
        close(fd)
        pending.deallocate()
        writing.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        pthread_cond_destroy(batchDurable)
        batchDurable.deallocate()
    }

    /// Appends `record` and returns once the batch holding it is durable.
    func append(_ record: UnsafeRawBufferPointer) throws(BenchError) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if failure != 0 { throw failed() }
        assert(pendingBytes + 4 + record.count <= batchBytesMax, "one record per appender in the open batch")
        var length = UInt32(record.count).littleEndian
        withUnsafeBytes(of: &length) { (pending + pendingBytes).copyMemory(from: $0.baseAddress!, byteCount: 4) }
        if let base = record.baseAddress { (pending + pendingBytes + 4).copyMemory(from: base, byteCount: record.count) }
        pendingBytes += 4 + record.count
        let mine = openBatch
        while durableBatch < mine {
            if failure != 0 { throw failed() }
            if leaderActive {
                pthread_cond_wait(batchDurable, mutex)
            } else {
                lead()
            }
        }
    }

    /// Takes the open batch, writes and syncs it with the mutex released,
    /// then publishes it. Mutex held on entry and exit.
    private func lead() {
        assert(!leaderActive && pendingBytes > 0)
        leaderActive = true
        swap(&pending, &writing)
        let bytes = pendingBytes
        let batch = openBatch
        pendingBytes = 0
        openBatch += 1
        if writeOffset + bytes > fileBytes { writeOffset = 0 }
        let offset = writeOffset
        writeOffset += bytes
        pthread_mutex_unlock(mutex)

        var error: Int32 = 0
        var done = 0
        while done < bytes {
            let n = pwrite(fd, writing + done, bytes - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                error = errno
                break
            }
            done += n
        }
        if error == 0 && fdatasync(fd) != 0 { error = errno }

        pthread_mutex_lock(mutex)
        if error != 0 { failure = error } else { durableBatch = batch }
        leaderActive = false
        pthread_cond_broadcast(batchDurable)
    }

    private func failed() -> BenchError {
        BenchError("pwrite/fdatasync group commit on \(path): \(String(cString: strerror(failure)))")
    }
}
