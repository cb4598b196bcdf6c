import JournalPrimitives

extension Journal {
    /// A follower of the log from `lsn` on: it reads every durable record in
    /// order, then waits for new ones, woken when they become durable.
    ///
    /// Creating it does no I/O and takes the journal's lock briefly.
    /// `lsn` may be any LSN from `oldestLSN` through `nextLSN`: one not yet
    /// durable is delivered once it is.
    ///
    /// - Throws: `JournalError.lsnOutOfRange` if `lsn` is below `oldestLSN`
    ///   (truncated, or 0) or above `nextLSN` (no record will ever have it
    ///   before the ones in between).
    /// - Complexity: O(1).
    ///
    /// With `retaining`, the follower holds an unnamed reader position
    /// (`ReaderPosition`) at the next record it delivers: truncation in
    /// this process keeps what it has yet to read (within
    /// `JournalOptions.retainedBytesMax`; past it, the follower gets
    /// `JournalError.readerFellBehind`) until it is cancelled or goes away.
    /// The follower moves the position on as it delivers records (copies
    /// or, zero-copy, with the segment pinned), so nothing it delivered is
    /// still needed from the log.
    ///
    /// - Throws: also `.invalidArgument` for `retaining` on a journal open
    ///   for reading (use a named position: `follower(resuming:)`).
    public func follower(from lsn: LSN, retaining: Bool = false) throws(JournalError) -> JournalFollower {
        try validateFollowStart(lsn)
        guard retaining else { return JournalFollower(journal: self, from: lsn) }
        return JournalFollower(journal: self, from: lsn, retained: try retainPosition(from: lsn), owned: true)
    }

    /// A follower from a named (or unnamed) reader position's LSN. The
    /// follower does not move the position: the consumer calls
    /// `position.advance(to:)` once it has processed records (for a named
    /// position, durably: a restart resumes from there, so records
    /// processed after the last advance are delivered again: at least once).
    /// Reading past a position that truncation overtook fails with
    /// `JournalError.readerFellBehind` naming it.
    ///
    /// The follower claims a named position for `position`'s handle (one
    /// consumer per position, see `ReaderPosition`).
    ///
    /// - Throws: `.readerFellBehind` if truncation already went past the
    ///   position, `.lsnOutOfRange` if it is above `nextLSN`,
    ///   `.positionInUse` while another handle holds it.
    public func follower(resuming position: ReaderPosition) throws(JournalError) -> JournalFollower {
        try checkResumable(position)
        // One consumer per named position; the claim reloads it.
        try position.claim()
        try checkResumable(position)
        return JournalFollower(journal: self, from: position.lsn, retained: position, owned: false)
    }

    /// The records from `lsn` on as they become durable, for a `for try
    /// await` loop: the contract of `follower(from:)`, one follower per
    /// iterator. The loop ends when the journal closes (after its last
    /// durable record) or the task is cancelled.
    ///
    /// - Throws: `JournalError.lsnOutOfRange` as `follower(from:)`.
    /// - Complexity: O(1).
    public func follow(from lsn: LSN) throws(JournalError) -> JournalFollowSequence {
        try validateFollowStart(lsn)
        return JournalFollowSequence(journal: self, start: lsn)
    }

    func validateFollowStart(_ lsn: LSN) throws(JournalError) {
        let (first, next) = lock.withLock { (firstLSN, lastLSN + 1) }
        guard lsn >= first, lsn <= next else {
            throw .lsnOutOfRange(requested: lsn, first: first, durable: durableLSN)
        }
    }
}

/// Reads a journal's records in order as they become durable: every record
/// once, none before it is durable, checksums verified as in every read.
///
/// When it has read everything durable it sleeps until the writer publishes
/// a higher durable LSN (no polling), until the journal closes (then it
/// ends, having read every record made durable before the close), or until
/// `cancel()`. Holds no segment pinned between calls, so it never blocks
/// truncation while it waits; a follower that falls behind `oldestLSN` gets
/// `JournalError.lsnOutOfRange` rather than a record past a hole.
///
/// Thread safety: one consumer (thread or task) at a time calls the reading
/// methods; `cancel()` may be called from anywhere.
public final class JournalFollower: @unchecked Sendable {
    // @unchecked: `position` and the buffer belong to the one consumer;
    // the token is the hub's (its lock guards it).
    /// The journal followed.
    public let journal: Journal
    let token: FollowToken
    /// The LSN of the next record to deliver.
    private var position: LSN
    /// The records the last refill copied: `buffer[bufferIndex..<bufferEnd]`
    /// are still to deliver. The slots keep their payloads' storage once
    /// delivered: the next refill copies into the storage of each record
    /// the consumer let go, without allocating (or freeing) anything. The
    /// consumer's own thread alone touches these (the class's contract), so
    /// they go without the run-time exclusivity checks, which cost more
    /// than the rest of `nextBlocking` when a record is at hand.
    @exclusivity(unchecked) private var buffer: [JournalRecord] = []
    @exclusivity(unchecked) private var bufferIndex = 0
    @exclusivity(unchecked) private var bufferEnd = 0
    /// Where the last read stopped, for the next to decode on from there.
    private var cursor: FollowCursor?
    /// Records copied per read by `next`: enough to amortize the pin.
    static let chunkRecords: LSN = 256
    /// The largest payload storage a slot keeps for the next refill: an
    /// idle follower holds at most `chunkRecords` times this beyond the
    /// records of its last chunk.
    static let reusedPayloadBytesMax = 4096

    /// The reader position this follower reads from, if any, and whether
    /// the follower moves it on itself (an unnamed one it made).
    private let retained: ReaderPosition?
    private let ownsRetained: Bool

    init(journal: Journal, from lsn: LSN, retained: ReaderPosition? = nil, owned: Bool = false) {
        self.journal = journal
        self.position = lsn
        self.token = journal.followers.makeToken()
        self.retained = retained
        self.ownsRetained = owned
    }

    /// The reader position this follower holds or resumed from, if any.
    public var readerPosition: ReaderPosition? { retained }

    /// The error for a next record truncation released: the position's
    /// `readerFellBehind` when one was held, else `lsnOutOfRange`.
    private func released(oldest: LSN) -> JournalError {
        if let retained { return retained.fellBehind(needing: position, oldest: oldest) }
        return .lsnOutOfRange(requested: position, first: oldest, durable: journal.durableLSN)
    }

    /// The error of a wait that failed: a followed journal's tail stops
    /// with `lsnOutOfRange` when the writer released records it had yet to
    /// read, which for a follower from a reader position is that position
    /// overtaken.
    private func waitFailure(_ error: JournalError) -> JournalError {
        guard retained != nil, case .lsnOutOfRange(_, let oldest, _) = error else { return error }
        return released(oldest: oldest)
    }

    /// The LSN of the next record this follower delivers (or later, past a
    /// gap that salvage recovery skipped). For the consumer's own thread.
    public var nextLSN: LSN { bufferIndex == bufferEnd ? position : buffer[bufferIndex].lsn }

    /// Ends the follower: a wait in progress returns at once, and every
    /// later call returns nil (or returns) without reading. Any thread.
    public func cancel() {
        journal.followers.cancel(token)
        if ownsRetained { retained?.release() }
    }

    /// The next record, copied; blocks the calling thread until one is
    /// durable. Nil once the journal has closed and every record durable
    /// before the close was read, or after `cancel()`.
    ///
    /// - Throws: `JournalError.lsnOutOfRange` if truncation released the
    ///   next record before it was read, `.corruption` on a record that
    ///   fails validation, `.invalidArgument` when it would wait from
    ///   inside a handler of the journal's listener
    ///   (`Journal.listen(from:onRecord:onEnd:)`).
    /// - Complexity: amortized O(payload bytes).
    public func nextBlocking() throws(JournalError) -> JournalRecord? {
        while bufferIndex == bufferEnd {
            guard !journal.followers.isCancelled(token) else { return nil }
            if try refill() { continue }
            try journal.refuseInsideListener("a follower's blocking wait")
            switch journal.followers.waitBlocking(token, after: position - 1, durable: { journal.durableLSN }) {
            case .advanced: continue
            case .closed, .cancelled: return nil
            case .failed(let error): throw waitFailure(error)
            }
        }
        defer { bufferIndex += 1 }
        return buffer[bufferIndex]
    }

    /// The next record, copied; suspends the task until one is durable. Nil
    /// once the journal has closed and every record durable before the close
    /// was read, after `cancel()`, or when the task is cancelled.
    ///
    /// - Throws: as `nextBlocking()`.
    /// - Complexity: amortized O(payload bytes).
    public func next() async throws(JournalError) -> JournalRecord? {
        while bufferIndex == bufferEnd {
            guard !Task.isCancelled, !journal.followers.isCancelled(token) else { return nil }
            if try refill() { continue }
            let journal = self.journal
            switch await journal.followers.wait(token, after: position - 1, durable: { journal.durableLSN }) {
            case .advanced: continue
            case .closed, .cancelled: return nil
            case .failed(let error): throw waitFailure(error)
            }
        }
        defer { bufferIndex += 1 }
        return buffer[bufferIndex]
    }

    /// Calls `body` with each record as it becomes durable, zero-copy (the
    /// bytes are the segment's mapping, valid only inside `body`, as in
    /// `Journal.forEachRecord`), blocking the calling thread while it waits
    /// for more. Returns when `body` returns false, after `cancel()`, or once
    /// the journal has closed and every record durable before it was read.
    ///
    /// `body` runs with the record's segment pinned: it must not call
    /// `truncate(before:)`. Records a `nextBlocking()` call copied but did
    /// not return come first.
    ///
    /// - Throws: as `nextBlocking()`, or what `body` throws.
    public func forEachBlocking(_ body: (LSN, UnsafeRawBufferPointer) throws -> Bool) throws {
        guard try drainBuffer(body) else { return }
        while !journal.followers.isCancelled(token) {
            let (delivered, stopped) = try read(through: journal.durableLSN, body)
            if stopped { return }
            if delivered { continue }
            try journal.refuseInsideListener("a follower's blocking wait")
            switch journal.followers.waitBlocking(token, after: position - 1, durable: { journal.durableLSN }) {
            case .advanced: continue
            case .closed, .cancelled: return
            case .failed(let error): throw waitFailure(error)
            }
        }
    }

    /// `forEachBlocking(_:)` for tasks: suspends, rather than blocks, while
    /// it waits for records; also returns when the task is cancelled.
    /// Delivery is zero-copy as there.
    ///
    /// - Throws: as `nextBlocking()`, or what `body` throws.
    public func forEach(_ body: (LSN, UnsafeRawBufferPointer) throws -> Bool) async throws {
        guard try drainBuffer(body) else { return }
        let journal = self.journal
        while !Task.isCancelled, !journal.followers.isCancelled(token) {
            let (delivered, stopped) = try read(through: journal.durableLSN, body)
            if stopped { return }
            if delivered { continue }
            switch await journal.followers.wait(token, after: position - 1, durable: { journal.durableLSN }) {
            case .advanced: continue
            case .closed, .cancelled: return
            case .failed(let error): throw waitFailure(error)
            }
        }
    }

    // MARK: Reading

    /// Copies up to `chunkRecords` durable records into the buffer. Returns
    /// whether it holds any.
    private func refill() throws(JournalError) -> Bool {
        bufferIndex = 0
        bufferEnd = 0
        let limit = journal.durableLSN
        guard position <= limit else { return false }
        // The slots as a local while records are copied (uniquely held, so
        // that payloads the consumer let go are copied into in place).
        var slots = buffer
        buffer = []
        var count = 0
        defer { buffer = slots }
        do {
            _ = try read(through: min(limit, position + Self.chunkRecords - 1)) { lsn, bytes in
                if count == slots.count {
                    slots.append(JournalRecord(lsn: lsn, payload: Array(bytes)))
                } else if slots[count].payload.capacity <= Self.reusedPayloadBytesMax {
                    slots[count].lsn = lsn
                    // A new buffer if the consumer still holds the old one.
                    slots[count].payload.removeAll(keepingCapacity: true)
                    slots[count].payload.append(contentsOf: bytes)
                } else {
                    // A large payload's storage is not kept past its chunk.
                    slots[count] = JournalRecord(lsn: lsn, payload: Array(bytes))
                }
                count += 1
                return true
            }
        } catch let error as JournalError {
            throw error
        } catch {
            preconditionFailure("the copying body throws nothing")
        }
        bufferEnd = count
        // The copies hold what the position kept.
        if ownsRetained { retained?.advanceUnchecked(to: position) }
        return count > 0
    }

    /// In a journal followed from another process: the writer did not
    /// release `lsn` meanwhile (else the reader position's error, if any).
    private func checkTail(_ lsn: LSN) throws(JournalError) {
        do { try journal.tail?.checkNotReleased(lsn) } catch {
            guard let retained, case .lsnOutOfRange(_, let oldest, _) = error else { throw error }
            throw retained.fellBehind(needing: lsn, oldest: oldest)
        }
    }

    /// Hands `body` the records copied but not yet returned. Returns false
    /// if `body` asked to stop.
    private func drainBuffer(_ body: (LSN, UnsafeRawBufferPointer) throws -> Bool) throws -> Bool {
        while bufferIndex < bufferEnd {
            let record = buffer[bufferIndex]
            bufferIndex += 1
            guard try record.payload.withUnsafeBytes({ try body(record.lsn, $0) }) else { return false }
        }
        return true
    }

    /// Delivers the durable records from `position` through `limit`,
    /// advancing `position` past each. Returns whether any was delivered
    /// and whether `body` asked to stop.
    private func read(through limit: LSN, _ body: (LSN, UnsafeRawBufferPointer) throws -> Bool) throws -> (delivered: Bool, stopped: Bool) {
        guard position <= limit else { return (false, false) }
        let oldest = journal.oldestLSN
        guard position >= oldest else { throw released(oldest: oldest) }
        var delivered = false
        var stopped = false
        let first = position
        // The position as a local while records are delivered (a stored
        // property would cost an exclusivity check per access), stored back
        // on every way out.
        var next = first
        do {
            defer { position = next }
            _ = try journal.forEachFollowedRecord(from: first, through: limit, cursor: &cursor) { lsn, bytes in
                // Only a gap salvage recovery skipped may separate two records;
                // anything else is truncation overtaking this follower.
                if lsn != next && lsn != journal.lsnPastGaps(next) {
                    position = next
                    throw released(oldest: journal.oldestLSN)
                }
                next = lsn + 1
                delivered = true
                stopped = try !body(lsn, bytes)
                // Delivered with its segment pinned: no longer needed.
                if ownsRetained { retained?.advanceUnchecked(to: next) }
                return !stopped
            }
        } catch let error as JournalError {
            // Damage in a followed journal may be a released file reused.
            try checkTail(first)
            if case .lsnOutOfRange = error, position < journal.oldestLSN { throw released(oldest: journal.oldestLSN) }
            throw error
        }
        // The writer of a followed journal may have released and reused the
        // file under the bytes just read (journal-format.md, section 11).
        try checkTail(first)
        if !delivered && !stopped {
            // Durable records exist from `position` on, yet none was read.
            throw released(oldest: journal.oldestLSN)
        }
        return (delivered, stopped)
    }
}

/// The records of a journal from an LSN on as they become durable: see
/// `Journal.follow(from:)`. Each iterator is a follower of its own.
public struct JournalFollowSequence: AsyncSequence, Sendable {
    public typealias Element = JournalRecord
    public typealias Failure = JournalError

    let journal: Journal
    let start: LSN

    /// A follower from the sequence's first LSN.
    public func makeAsyncIterator() -> Iterator {
        Iterator(follower: JournalFollower(journal: journal, from: start))
    }

    /// Reads through its own follower; use from one task at a time.
    public struct Iterator: AsyncIteratorProtocol {
        /// The follower behind this iterator (to cancel it from elsewhere).
        public let follower: JournalFollower

        /// The next durable record; nil once the journal closed (after its
        /// last durable record) or the task was cancelled.
        public mutating func next() async throws(JournalError) -> JournalRecord? {
            try await follower.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(JournalError) -> JournalRecord? {
            try await follower.next()
        }
    }
}
