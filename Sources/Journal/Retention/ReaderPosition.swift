import JournalPrimitives
import JournalStorage
import Synchronization

// Reader positions: a reader's place in the log that holds truncation back
// (journal-format.md, section 12). Unnamed positions live in this process's
// memory and hold back this journal's truncation while they are held;
// named ones are position files that survive restarts and crashes and hold
// back the truncation of whichever process writes the journal.

/// A reader's place in the log: the LSN of the next record the reader
/// needs. While the position is held, `Journal.truncate(before:)` (and so
/// the page store's truncation behind its checkpoints, and the reuse of
/// released segments) releases no segment holding a record at or above it,
/// unless keeping it would retain more than `JournalOptions.retainedBytesMax`:
/// then truncation goes past it, and reading from it fails with
/// `JournalError.readerFellBehind`.
///
/// Get one from `Journal.retainPosition(from:)` (unnamed: this process
/// only, gone with the handle) or `Journal.createPosition(named:at:)` and
/// `Journal.position(named:)` (named: a file beside the segments). The
/// reader moves it on with `advance(to:)` once it no longer needs the
/// records below; a follower made with `Journal.follower(from:retaining:)`
/// moves its unnamed position on by itself.
///
/// One consumer per named position: the first handle that advances it or
/// follows from it (`Journal.follower(resuming:)`) claims it, with a lock
/// on its file `position-NAME.lock` that the kernel drops if the process
/// dies; until that handle is released (or goes away, or its journal is
/// closed, which releases it), another handle's advance or follower fails
/// with `JournalError.positionInUse`, in this process or another. Reading
/// `lsn` claims nothing.
///
/// Thread safety: any thread; advances of one position are serialized.
public final class ReaderPosition: Sendable {
    /// The journal the position is in.
    public let journal: Journal
    /// The position's name; empty for an unnamed position.
    public let name: String
    let id: UInt64
    private let value: Atomic<UInt64>
    private let isReleased = Atomic<Bool>(false)
    /// Serializes advances, so a named position's file only moves forward.
    private let advancing = Mutex<Void>(())
    /// A named position's claim, once taken: the lock on its lock file.
    private let claimed = Mutex<(any StorageLock)?>(nil)

    init(journal: Journal, name: String, id: UInt64, lsn: LSN) {
        self.journal = journal
        self.name = name
        self.id = id
        self.value = Atomic(lsn)
    }

    /// Whether the position survives restarts (a position file).
    public var isNamed: Bool { !name.isEmpty }

    /// The LSN of the next record the reader needs: records below it may be
    /// released. Lock-free.
    public var lsn: LSN { value.load(ordering: .acquiring) }

    /// Moves the position on to `lsn`: the reader no longer needs the
    /// records below it. A named position's file is replaced durably
    /// before this returns (one small file write and a rename), so
    /// advance it once per batch of records, not once per record. An `lsn`
    /// at or below the current position changes nothing: a position never
    /// goes back.
    ///
    /// - Throws: `JournalError.invalidArgument` if `lsn` is above the
    ///   journal's next LSN or the position was released or dropped,
    ///   `.positionInUse` if another handle holds the named position, `.io`
    ///   if the position file cannot be written (the position is then
    ///   unchanged), `.closed` if the journal was closed before this handle
    ///   claimed the position (closing releases the handles that had).
    /// - Complexity: O(1); one durable file replacement for a named position.
    public func advance(to lsn: LSN) throws(JournalError) {
        try advancing.withLock { (_: inout Void) throws(JournalError) in
            guard !isReleased.load(ordering: .acquiring) else {
                throw .invalidArgument("reader position '\(name)' was released")
            }
            try claimLocked()
            guard lsn > value.load(ordering: .relaxed) else { return }
            let next = journal.nextLSN
            guard lsn <= next else {
                throw .invalidArgument("reader position cannot advance to \(lsn): the journal's next LSN is \(next)")
            }
            if isNamed { try PositionFile.write(journal.storage, name: name, lsn: lsn) }
            value.store(lsn, ordering: .releasing)
        }
    }

    /// Moves an unnamed position on without the checks of `advance(to:)`
    /// (a follower that delivered the records below `lsn`).
    func advanceUnchecked(to lsn: LSN) {
        if lsn > value.load(ordering: .relaxed) { value.store(lsn, ordering: .releasing) }
    }

    /// Stops holding truncation back (unnamed), or lets go of this handle
    /// (named: the position file stays; `Journal.dropPosition(named:)`
    /// removes it). Idempotent; later advances fail.
    public func release() {
        isReleased.store(true, ordering: .releasing)
        if name.isEmpty { journal.forgetPosition(id) }
        let lock = claimed.withLock { held in
            defer { held = nil }
            return held
        }
        guard let lock else { return }
        journal.forgetClaim(self)
        lock.unlock()
    }

    /// Claims a named position for this handle (nothing for an unnamed
    /// one, or one already claimed), then reloads it from its file: the
    /// previous holder may have advanced it since this handle read it.
    ///
    /// - Throws: `.positionInUse` while another handle holds it,
    ///   `.invalidArgument` if it was dropped or this handle released,
    ///   `.io` if the lock file cannot be made.
    func claim() throws(JournalError) {
        try advancing.withLock { (_: inout Void) throws(JournalError) in try claimLocked() }
    }

    /// `claim()` with advances held off (`advancing` held).
    private func claimLocked() throws(JournalError) {
        guard isNamed else { return }
        try claimed.withLock { (held: inout (any StorageLock)?) throws(JournalError) in
            guard held == nil else { return }
            guard !released else { throw .invalidArgument("reader position '\(name)' was released") }
            let lock = try journal.lockPositionFile(name)
            guard let lsn = try PositionFile.read(journal.storage, name: name) else {
                lock.unlock()
                throw .invalidArgument("no reader position named '\(name)'")
            }
            if lsn > value.load(ordering: .relaxed) { value.store(lsn, ordering: .releasing) }
            guard journal.noteClaim(self) else {
                lock.unlock()
                throw .closed
            }
            held = lock
        }
    }

    /// Takes `lock` as this new position's claim.
    ///
    /// - Throws: `.closed` (the claim let go) if the journal is closing.
    func adopt(_ lock: any StorageLock) throws(JournalError) {
        guard journal.noteClaim(self) else {
            lock.unlock()
            throw .closed
        }
        claimed.withLock { $0 = lock }
    }

    var released: Bool { isReleased.load(ordering: .acquiring) }

    /// The error for a reader that needs `lsn` when the journal's oldest
    /// LSN is `oldest`.
    func fellBehind(needing lsn: LSN, oldest: LSN) -> JournalError {
        .readerFellBehind(name: name, lsn: lsn, oldest: oldest)
    }
}

/// One reader position as `Journal.readerPositionStatuses()` reports it.
public struct ReaderPositionStatus: Sendable, Equatable {
    /// The position's name; empty for an unnamed position.
    public var name: String
    /// The LSN of the next record the reader needs.
    public var lsn: LSN
    /// Durable records at or above `lsn`: how many the reader has yet to read.
    public var lagRecords: UInt64
    /// Bytes of segment files from `lsn`'s record to the end of the log
    /// (approximately: to within 64 KiB, the segments' index stride).
    public var lagBytes: Int
    /// Bytes of segment files the position keeps from truncation: the
    /// segments from the one holding `lsn` through the newest, what
    /// `JournalOptions.retainedBytesMax` bounds.
    public var retainedBytes: Int
    /// Truncation went past the position: the records from `lsn` on are
    /// partly gone, and a reader from it gets `JournalError.readerFellBehind`.
    public var fellBehind: Bool
}
