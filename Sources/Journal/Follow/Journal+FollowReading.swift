import JournalPrimitives

// A follower's reads. `forEachRecord(from:through:_:)` finds its first
// record from the segment's index point at or before it, decoding and
// checking every record in between (up to `Segment.indexStrideBytes` of
// them). A follower that keeps up reads a few records per wake-up, so it
// paid that walk on every wake-up: most of the records it checked were
// ones it had already delivered. It now remembers where its last read
// stopped and, when its next record follows in the same live segment,
// decodes on from there, chained to the last record it delivered: every
// record is decoded and checked once.

/// Just past the last record a follower delivered, in the segment that
/// holds it. The segment is held strongly, so that the identity compared
/// is never that of another segment allocated at the same address; it is
/// read only while pinned again.
struct FollowCursor {
    let segment: Segment
    var end: Int
    var chain: ChainState
}

extension Journal {
    /// `forEachRecord(from:through:_:)` for a follower, resuming at
    /// `cursor` when `lsn` is the record after it in the same live segment,
    /// and leaving `cursor` just past the last record delivered. Anything
    /// irregular (a gap salvage recovery skipped, a record that does not
    /// decode) goes to `forEachRecord`, which reports it as it always has.
    /// Returns whether `body` asked to stop.
    func forEachFollowedRecord(
        from lsn: LSN, through last: LSN, cursor: inout FollowCursor?, _ body: (LSN, UnsafeRawBufferPointer) throws -> Bool
    ) throws -> Bool {
        let limit = min(last, durableLSN)
        var next = lsn
        while next <= limit {
            guard lsnPastGaps(next) == next else { break }
            let before = next
            let outcome = try readFollowedSegment(from: &next, through: limit, cursor: &cursor, body)
            if outcome == .stopped { return true }
            if outcome == .irregular || next == before { break }
        }
        guard next <= limit else { return false }
        cursor = nil
        var stopped = false
        try forEachRecord(from: next, through: limit) { lsn, bytes in
            stopped = try !body(lsn, bytes)
            return !stopped
        }
        return stopped
    }

    enum FollowedSegmentOutcome {
        /// The limit was reached or the segment's records were all read.
        case read
        /// `body` asked to stop.
        case stopped
        /// A record did not decode or did not follow: left to `forEachRecord`.
        case irregular
    }

    /// Delivers the records from `next` through `limit` that the segment
    /// holding `next` has, advancing `next` past each.
    private func readFollowedSegment(
        from next: inout LSN, through limit: LSN, cursor: inout FollowCursor?, _ body: (LSN, UnsafeRawBufferPointer) throws -> Bool
    ) throws -> FollowedSegmentOutcome {
        let (segment, header, entry) = try pinSegment(for: next)
        defer { unpin(segment) }
        let decoder = decoder(for: segment, header: header)
        let segmentLast = lock.withLock { segment.lastLSN }
        // The cursor is stored once on the way out, not per record (each
        // store retains the segment).
        var stop: (end: Int, chain: ChainState)?
        defer { if let stop { cursor = FollowCursor(segment: segment, end: stop.end, chain: stop.chain) } }
        var record: DecodedRecord?
        if let c = cursor, c.segment === segment, c.chain.lastLSN &+ 1 == next {
            record = decoder.record(after: c.end, continuing: c.chain)
        } else if let first = decoder.record(at: entry.offset, continuing: nil), first.lsn == entry.lsn {
            record = first
        }
        while let r = record {
            if r.lsn >= next {
                guard r.lsn == next else { return .irregular }
                next = r.lsn + 1
                stop = (r.end, r.chainAfter)
                guard try Self.withPayload(of: r, decoder: decoder, { try body(r.lsn, $0) }) else { return .stopped }
            }
            if next > limit || r.lsn >= segmentLast { return .read }
            record = decoder.record(after: r.end, continuing: r.chainAfter)
        }
        return .irregular
    }
}
