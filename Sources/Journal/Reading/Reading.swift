import JournalPrimitives

/// A record read from the journal, copied out of the mapping.
public struct JournalRecord: Sendable, Equatable {
    /// The record's log sequence number.
    public var lsn: LSN
    /// The record's bytes, as appended.
    public var payload: [UInt8]

    /// A record with the given LSN and payload.
    public init(lsn: LSN, payload: [UInt8]) {
        self.lsn = lsn
        self.payload = payload
    }
}

extension Journal {
    /// Calls `body` with the payload of record `lsn`, which must be durable.
    ///
    /// Zero-copy: for a record in one fragment, the bytes are the read-only
    /// mapping of the segment, valid only inside `body`; a record spread over
    /// pages is assembled into a temporary buffer. Checksums are verified
    /// before `body` runs. The segment cannot be released while `body` runs.
    ///
    /// Never waits for writers; takes the journal's lock briefly to find
    /// and pin the segment. Thread-safe: any number of readers at once,
    /// beside appenders. `body` must not let the buffer escape, and must not
    /// call `truncate(before:)` (it would wait for this pin forever).
    ///
    /// - Throws: `JournalError.lsnOutOfRange` if `lsn` is below
    ///   `oldestLSN` or above `durableLSN` (or in a gap salvage skipped),
    ///   `.corruption` if the bytes fail their checksums, or what `body`
    ///   throws.
    ///
    /// - Complexity: O(log segments + records between `lsn` and the nearest
    ///   index point, at most 64 KiB of log).
    public func withRecord<R>(at lsn: LSN, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let (segment, header, entry) = try pinSegment(for: lsn)
        defer { unpin(segment) }
        let decoder = decoder(for: segment, header: header)
        guard var record = decoder.record(at: entry.offset, continuing: nil), record.lsn == entry.lsn else {
            throw JournalError.corruption(segment: segment.name, offset: entry.offset, detail: "indexed record \(entry.lsn) fails validation")
        }
        while record.lsn < lsn {
            guard let next = decoder.record(after: record.end, continuing: record.chainAfter) else {
                // Within a salvage gap the LSN does not exist.
                throw JournalError.lsnOutOfRange(requested: lsn, first: oldestLSN, durable: durableLSN)
            }
            record = next
        }
        guard record.lsn == lsn else {
            throw JournalError.corruption(segment: segment.name, offset: record.start, detail: "expected LSN \(lsn), found \(record.lsn)")
        }
        return try Self.withPayload(of: record, decoder: decoder, body)
    }

    /// The payload of record `lsn` (which must be durable), copied. The
    /// contract of `withRecord(at:_:)`.
    ///
    /// - Throws: `JournalError.lsnOutOfRange` or `.corruption`.
    /// - Complexity: as `withRecord(at:_:)`, plus O(payload bytes).
    public func record(at lsn: LSN) throws -> [UInt8] {
        try withRecord(at: lsn) { Array($0) }
    }

    static func withPayload<R>(of record: DecodedRecord, decoder: SegmentDecoder, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if record.fragmentCount == 1 {
            return try body(decoder.bytes.slice(record.firstPayloadOffset, record.payloadBytes))
        }
        var assembled = [UInt8]()
        assembled.reserveCapacity(record.payloadBytes)
        decoder.forEachPayloadPiece(of: record) { assembled.append(contentsOf: $0) }
        assert(assembled.count == record.payloadBytes)
        return try assembled.withUnsafeBytes(body)
    }

    /// Calls `body` with every durable record from `lsn` on, in order, up to
    /// `last` (default: the durable LSN when the call starts). Payloads are
    /// zero-copy as in `withRecord(at:_:)`; the whole chain (LSNs, previous
    /// checksums, epochs) is verified along the way. Return false from
    /// `body` to stop early.
    ///
    /// Never waits for writers; each segment is pinned while `body` runs on
    /// its records, so `body` must not call `truncate(before:)`. Records
    /// that become durable during the walk are included only up to `last`.
    /// Thread-safe beside appenders and other readers.
    ///
    /// - Throws: `JournalError.lsnOutOfRange` if `lsn` was truncated away
    ///   meanwhile, `.corruption` on a record that fails validation, or what
    ///   `body` throws.
    ///
    /// - Complexity: O(records visited + log bytes between `lsn` and the
    ///   nearest index point).
    public func forEachRecord(from lsn: LSN, through last: LSN? = nil, _ body: (LSN, UnsafeRawBufferPointer) throws -> Bool) throws {
        let limit = min(last ?? durableLSN, durableLSN)
        var next = max(lsn, oldestLSN)
        while next <= limit {
            // A gap salvage skipped may begin at a segment's first record:
            // then no index point of that segment precedes `next`.
            next = lsnPastGaps(next)
            guard next <= limit else { return }
            let before = next
            let (segment, header, entry) = try pinSegment(for: next)
            defer {
                unpin(segment)
            }
            let decoder = decoder(for: segment, header: header)
            guard var record = decoder.record(at: entry.offset, continuing: nil), record.lsn == entry.lsn else {
                throw JournalError.corruption(segment: segment.name, offset: entry.offset, detail: "indexed record \(entry.lsn) fails validation")
            }
            let segmentLast = lock.withLock { segment.lastLSN }
            while true {
                if record.lsn >= next {
                    assert(record.lsn == next, "records are consecutive")
                    let keepGoing = try Self.withPayload(of: record, decoder: decoder) { try body(record.lsn, $0) }
                    next = record.lsn + 1
                    if !keepGoing { return }
                }
                if next > limit || record.lsn >= segmentLast { break }
                if let following = decoder.record(after: record.end, continuing: record.chainAfter) {
                    record = following
                } else if let resume = lock.withLock({ segment.indexEntry(after: record.lsn) }),
                          let following = decoder.record(at: resume.offset, continuing: nil), following.lsn == resume.lsn {
                    // A gap that salvage recovery skipped.
                    record = following
                    next = max(next, following.lsn)
                } else {
                    throw JournalError.corruption(segment: segment.name, offset: record.end, detail: "record after \(record.lsn) fails validation")
                }
            }
            if next == before {
                // Nothing at or after `next` in this segment: a gap salvage
                // skipped runs past its end. Go on at the next segment.
                guard let following = lock.withLock({ baseLSN(after: segment) }) else { return }
                guard following > next else {
                    throw JournalError.corruption(segment: segment.name, offset: 0, detail: "LSN \(next) is not where the segments say")
                }
                next = following
            }
        }
    }

    /// `lsn`, or the first LSN after the salvage gap that holds it.
    func lsnPastGaps(_ lsn: LSN) -> LSN {
        var lsn = lsn
        for gap in recoveryReport.gaps where gap.lastLSNBefore < lsn && lsn < gap.firstLSNAfter {
            lsn = gap.firstLSNAfter
        }
        return lsn
    }

    /// Every durable record from `lsn` through `last` (default: the
    /// durable LSN when the call starts), copied, as an array. The contract
    /// of `forEachRecord(from:through:_:)`.
    ///
    /// - Throws: `JournalError.lsnOutOfRange` or `.corruption`.
    /// - Complexity: O(records returned + their payload bytes).
    public func records(from lsn: LSN, through last: LSN? = nil) throws -> [JournalRecord] {
        var out: [JournalRecord] = []
        try forEachRecord(from: lsn, through: last) { l, bytes in
            out.append(JournalRecord(lsn: l, payload: Array(bytes)))
            return true
        }
        return out
    }
}

extension Journal {
    /// A lazy sequence of the durable records from `lsn` on (up to the
    /// durable LSN when iteration reaches it), copied out in chunks so that no
    /// segment stays pinned between `next()` calls.
    ///
    /// Creating it does no I/O. Iteration reads 256 records at a time; an
    /// error ends it, and the iterator's `error` says which. Safe to iterate
    /// beside appenders and truncation.
    /// - Complexity: O(1) to create.
    public func recordSequence(from lsn: LSN) -> JournalRecordSequence {
        JournalRecordSequence(journal: self, start: lsn)
    }
}

/// Records of a journal from an LSN on, read lazily. Iterating throws away
/// errors: check `error` after the loop ends to tell the end of the log from
/// a failed read.
public struct JournalRecordSequence: Sequence, Sendable {
    let journal: Journal
    let start: LSN

    /// An iterator from the sequence's first LSN.
    public func makeIterator() -> Iterator { Iterator(journal: journal, nextLSN: start) }

    /// Reads records in chunks, copying them out; holds no pin between calls.
    /// Use from one thread or task at a time.
    public struct Iterator: IteratorProtocol {
        let journal: Journal
        var nextLSN: LSN
        var buffer: [JournalRecord] = []
        var index = 0
        /// Why iteration stopped early, if it did.
        public private(set) var error: (any Error)?
        static let chunkRecords: LSN = 256

        init(journal: Journal, nextLSN: LSN) {
            self.journal = journal
            self.nextLSN = Swift.max(nextLSN, 1)
        }

        /// The next durable record, or nil at the durable LSN or after an
        /// error (see `error`).
        /// - Complexity: amortized O(payload bytes).
        public mutating func next() -> JournalRecord? {
            if index == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                index = 0
                let limit = journal.durableLSN
                guard error == nil, nextLSN <= limit else { return nil }
                do {
                    buffer = try journal.records(from: nextLSN, through: Swift.min(limit, nextLSN + Self.chunkRecords - 1))
                } catch {
                    self.error = error
                    return nil
                }
                guard let last = buffer.last else { return nil }
                nextLSN = last.lsn + 1
            }
            defer { index += 1 }
            return buffer[index]
        }
    }
}
