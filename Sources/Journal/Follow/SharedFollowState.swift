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
//   writer:   store durableLSN (or, closing, closedIncarnation);
//             sequence += 1; if sleepers > 0 { wake(sequence) }
//   follower: sleepers += 1; s = sequence;
//             if durableLSN > mine (or the writer closed) { sleepers -= 1; done }
//             futex_wait(sequence, s); sleepers -= 1; check again
// Either the writer reads `sleepers` after the follower counted itself (and
// wakes it, or bumped `sequence` before the follower's wait, which then
// returns at once), or the follower reads `durableLSN` after the store.
// The writer stores `durableLSN` under its journal's lock, before any
// appender it covers is acknowledged, and bumps and wakes once it let that
// lock go (FollowerHub.swift); a publication overtaken by a higher one
// skips the bump, which the higher one's bump, after both stores, covers.

/// A mapping of `journal.shm`.
final class SharedFollowState: @unchecked Sendable {
    // @unchecked: the page is only touched through the atomic shims.
    static let fileName = "journal.shm"
    static let magic: UInt64 = 0x4D48_534C_4E4A_5753  // "SWJNLSHM" little-endian
    static let version: UInt32 = 1
    static let fileBytes = 4096
    /// How long a follower sleeps on the futex at most, and how often it
    /// checks that the follow file is still the journal's (section 11): a
    /// journal deleted or replaced publishes nothing more to this mapping.
    static let linkCheckNanos: UInt64 = 500_000_000

    private let mapping: any StorageSharedMapping
    private let base: UnsafeMutableRawPointer
    /// The journal directory, for errors.
    private let directory: String

    /// Maps the follow file of the journal directory `storage`, creating it
    /// (zero-filled, then stamped with magic and version) if absent and
    /// `create` allows.
    ///
    /// - Throws: `JournalError.notFound` when the file is absent and may not
    ///   be created, `.notAJournal` when it is not a follow file,
    ///   `.newerFormat`, `.invalidArgument` when the file system cannot map
    ///   it shared (no shared memory support), other storage errors.
    init(storage: any StorageDirectory, create: Bool) throws(JournalError) {
        let path = storage.path + "/" + Self.fileName
        do {
            mapping = try storage.mapShared(Self.fileName, bytes: Self.fileBytes, create: create)
        } catch {
            if error.errno == .noSuchFileOrDirectory { throw .notFound(path: path) }
            if error.operation == "mmap MAP_SHARED" && error.errno != Errno(rawValue: ENOMEM) {
                throw .invalidArgument("\(path) cannot be mapped shared (\(error.errno)): following needs a file system with shared memory support")
            }
            throw JournalError.from(error)
        }
        guard let base = mapping.bytes.baseAddress, mapping.bytes.count >= Self.fileBytes else {
            preconditionFailure("a shared mapping is as long as asked")
        }
        self.base = base
        self.directory = storage.path
        try stampOrCheck(path: path)
    }

    /// Throws unless the follow file is still the one the journal's
    /// directory names: `.notFound` when it (or the directory) was removed,
    /// `.notAJournal` when another file (another journal) took its place.
    func checkLinked() throws(JournalError) {
        switch mapping.link() {
        case .linked: return
        case .removed: throw .notFound(path: directory)
        case .replaced: throw .notAJournal(path: directory, reason: "the journal was replaced while it was followed")
        }
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
    /// The incarnation of the writer session that closed cleanly (0: the
    /// last writer is open, or crashed).
    var closedIncarnation: UInt64 { word64(48) }
    /// Whether the writer that published last closed cleanly: everything it
    /// made durable is published, and nothing more comes until a new writer
    /// opens.
    var writerClosed: Bool {
        let closed = closedIncarnation
        return closed != 0 && closed == incarnation
    }
    /// The LSN below which a truncation in progress may release records;
    /// creators of named reader positions check it after writing their
    /// file (journal-format.md, section 12).
    var retentionFloor: LSN { word64(64) }

    // MARK: Writer

    /// A writer session starts: its epoch, then its recovered log.
    func attachWriter(epoch: UInt32, durable: LSN, oldest: LSN) {
        setWord64(24, UInt64(epoch))
        setWord64(48, 0)
        setWord64(40, oldest)
        publishDurable(durable)
    }

    /// The writer session closes cleanly, after its last publication: its
    /// followers that end with it wake and end.
    func detachWriter() {
        setWord64(48, incarnation)
        wake()
    }

    /// Publishes a new durable LSN and wakes the followers that sleep.
    func publishDurable(_ lsn: LSN) {
        storeDurable(lsn)
        wake()
    }

    /// Stores a new durable LSN without waking anyone: `wake()` follows.
    func storeDurable(_ lsn: LSN) {
        setWord64(32, lsn)
    }

    /// Publishes a new oldest LSN, before the segments below it go.
    func publishOldest(_ lsn: LSN) {
        setWord64(40, lsn)
        wake()
    }

    /// Publishes the retention floor (before a truncation lists the
    /// position files, and lowered to the oldest LSN once it decided).
    func publishRetentionFloor(_ lsn: LSN) {
        setWord64(64, lsn)
    }

    /// Bumps the sequence and wakes the sleepers, if any are counted.
    func wake() {
        _ = cjournal_shared_add32(sequenceWord, 1)
        if cjournal_shared_load32(sleepersWord) > 0 { cjournal_futex_wake_shared(sequenceWord) }
    }

    // MARK: Follower

    /// Sleeps until `done()` holds, a wake-up comes (a publication, or
    /// `wake()` from a closing follower), or `linkCheckNanos` pass. The
    /// protocol at the top of the file: counted among the sleepers before
    /// reading the sequence.
    func sleep(unless done: () -> Bool) {
        _ = cjournal_shared_add32(sleepersWord, 1)
        let sequence = cjournal_shared_load32(sequenceWord)
        if !done() { cjournal_futex_wait_shared(sequenceWord, sequence, Self.linkCheckNanos) }
        _ = cjournal_shared_add32(sleepersWord, -1)
    }
}
