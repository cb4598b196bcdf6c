import CJournalConcurrency
import JournalPrimitives
import JournalStorage

#if canImport(Glibc)
import Glibc
#endif

// The follow file `journal.shm` (journal-format.md, section 11): a page
// shared by the writer and by every process that follows the journal. The
// writer publishes its durable LSN, its oldest LSN and its incarnation
// there and wakes followers through a shared futex; followers never write
// anything but the count of sleepers.
//
// Wake protocol (checked by Tools/promela/follow.pml), all operations
// sequentially consistent:
//   writer:   store durableLSN; sequence += 1; if sleepers > 0 { wake(sequence) }
//   follower: sleepers += 1; s = sequence; if durableLSN > mine { sleepers -= 1; done }
//             futex_wait(sequence, s); sleepers -= 1; check again
// Either the writer reads `sleepers` after the follower counted itself (and
// wakes it, or bumped `sequence` before the follower's wait, which then
// returns at once), or the follower reads `durableLSN` after the store.

/// A mapping of `journal.shm`.
final class SharedFollowState: @unchecked Sendable {
    // @unchecked: the page is only touched through the atomic shims.
    static let fileName = "journal.shm"
    static let magic: UInt64 = 0x4D48_534C_4E4A_5753  // "SWJNLSHM" little-endian
    static let version: UInt32 = 1
    static let fileBytes = 4096

    private let base: UnsafeMutableRawPointer
    private let fd: Int32

    /// Maps the follow file of the journal directory `directory`, creating
    /// it (zero-filled, then stamped with magic and version) if absent and
    /// `create` allows.
    ///
    /// - Throws: `JournalError.notFound` when the file is absent and may not
    ///   be created, `.notAJournal` when it is not a follow file,
    ///   `.newerFormat`, `.invalidArgument` when the file system cannot map
    ///   it shared (no shared memory support), other storage errors.
    init(directory: String, create: Bool) throws(JournalError) {
        let path = directory + "/" + Self.fileName
        let fd = Glibc.open(path, (create ? O_RDWR | O_CREAT : O_RDWR) | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT { throw .notFound(path: path) }
            throw JournalError.from(StorageError("open", path: path, errno: Errno(rawValue: e)))
        }
        var st = stat()
        if fstat(fd, &st) != 0 || (st.st_size < Self.fileBytes && ftruncate(fd, off_t(Self.fileBytes)) != 0) {
            let e = errno
            Glibc.close(fd)
            throw JournalError.from(StorageError("ftruncate", path: path, errno: Errno(rawValue: e)))
        }
        guard let p = mmap(nil, Self.fileBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            Glibc.close(fd)
            throw .invalidArgument("\(path) cannot be mapped shared (errno \(errno)): following needs a file system with shared memory support")
        }
        self.fd = fd
        self.base = p
        try stampOrCheck(path: path)
    }

    deinit {
        munmap(base, Self.fileBytes)
        Glibc.close(fd)
    }

    /// A fresh file gets its magic and version (several openers may race:
    /// they all write the same values); an existing one must carry them.
    private func stampOrCheck(path: String) throws(JournalError) {
        let magic = word64(0)
        if magic == 0 {
            cjournal_shared_store64(base.assumingMemoryBound(to: UInt64.self) + 1, UInt64(Self.version))
            cjournal_shared_store64(base.assumingMemoryBound(to: UInt64.self), Self.magic)
            return
        }
        guard magic == Self.magic else { throw .notAJournal(path: path, reason: "bad follow file magic") }
        let version = UInt32(truncatingIfNeeded: word64(8))
        guard version <= Self.version else { throw .newerFormat(path: path, found: version, supported: Self.version) }
    }

    // MARK: Fields (journal-format.md, section 11)

    private func word64(_ offset: Int) -> UInt64 {
        cjournal_shared_load64((base + offset).assumingMemoryBound(to: UInt64.self))
    }

    private func setWord64(_ offset: Int, _ value: UInt64) {
        cjournal_shared_store64((base + offset).assumingMemoryBound(to: UInt64.self), value)
    }

    private var sequenceWord: UnsafeMutablePointer<UInt32> { (base + 16).assumingMemoryBound(to: UInt32.self) }
    private var sleepersWord: UnsafeMutablePointer<UInt32> { (base + 20).assumingMemoryBound(to: UInt32.self) }

    /// The epoch of the writer session that last published (0: none yet).
    var incarnation: UInt64 { word64(24) }
    /// The durable LSN the writer last published.
    var durableLSN: LSN { word64(32) }
    /// The oldest LSN the writer still holds; raised before it releases
    /// segments.
    var oldestLSN: LSN { word64(40) }

    // MARK: Writer

    /// A writer session starts: its epoch, then its recovered log.
    func attachWriter(epoch: UInt32, durable: LSN, oldest: LSN) {
        setWord64(24, UInt64(epoch))
        setWord64(40, oldest)
        publishDurable(durable)
    }

    /// Publishes a new durable LSN and wakes the followers that sleep.
    func publishDurable(_ lsn: LSN) {
        setWord64(32, lsn)
        wake()
    }

    /// Publishes a new oldest LSN, before the segments below it go.
    func publishOldest(_ lsn: LSN) {
        setWord64(40, lsn)
        wake()
    }

    /// Bumps the sequence and wakes the sleepers, if any are counted.
    func wake() {
        _ = cjournal_shared_add32(sequenceWord, 1)
        if cjournal_shared_load32(sleepersWord) > 0 { cjournal_futex_wake_shared(sequenceWord) }
    }

    // MARK: Follower

    /// Sleeps until `done()` holds, or a wake-up comes (a publication, or
    /// `wake()` from a closing follower). The protocol at the top of the
    /// file: counted among the sleepers before reading the sequence.
    func sleep(unless done: () -> Bool) {
        _ = cjournal_shared_add32(sleepersWord, 1)
        let sequence = cjournal_shared_load32(sequenceWord)
        if !done() { cjournal_futex_wait_shared(sequenceWord, sequence) }
        _ = cjournal_shared_add32(sleepersWord, -1)
    }
}
