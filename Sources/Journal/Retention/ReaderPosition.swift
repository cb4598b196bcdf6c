import JournalPrimitives
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
    ///   journal's next LSN or the position was released or dropped, `.io`
    ///   if the position file cannot be written (the position is then
    ///   unchanged).
    /// - Complexity: O(1); one durable file replacement for a named position.
    public func advance(to lsn: LSN) throws(JournalError) {
        try advancing.withLock { (_: inout Void) throws(JournalError) in
            guard !isReleased.load(ordering: .acquiring) else {
                throw .invalidArgument("reader position '\(name)' was released")
            }
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
