import JournalPrimitives

/// Where the log stands after a record: what the next record must chain to.
struct ChainState: Equatable, Sendable {
    /// Header checksum of the last fragment (the segment header's checksum
    /// at the start of a segment).
    var lastCRC: UInt32
    /// LSN of the last record (base LSN - 1 at the start of a segment).
    var lastLSN: LSN
    /// Epoch of the last fragment; the next must not be older.
    var lastEpoch: UInt32
}

/// A record found in a segment.
struct DecodedRecord: Equatable, Sendable {
    var lsn: LSN
    /// Offset of its first fragment header.
    var start: Int
    /// Offset just past its last fragment's payload.
    var end: Int
    /// Payload bytes over all fragments.
    var payloadBytes: Int
    var fragmentCount: Int
    /// Header checksum of its last fragment.
    var lastCRC: UInt32
    var epoch: UInt32
    /// Offset of the payload when the record has one fragment.
    var firstPayloadOffset: Int

    var chainAfter: ChainState { ChainState(lastCRC: lastCRC, lastLSN: lsn, lastEpoch: epoch) }
}

/// Decodes records from the bytes of one segment, checking every rule of
/// journal-format.md ("Reading a segment"). Pure: never writes, never
/// allocates, safe on any bytes (the fuzz target drives it with garbage).
struct SegmentDecoder {
    let bytes: UnsafeRawBufferPointer
    let seed: UInt32
    let layout: FragmentLayout
    let blockBytes: Int
    let recordBytesMax: Int
    /// False only under the `skipPayloadChecksums` test defect.
    let verifiesPayloads: Bool

    init(bytes: UnsafeRawBufferPointer, header: SegmentHeader, recordBytesMax: Int, verifiesPayloads: Bool = true) {
        precondition(header.blockBytes > 0 && header.pageBytes >= header.blockBytes)
        self.bytes = bytes
        self.seed = header.fragmentSeed
        self.layout = FragmentLayout(pageBytes: header.pageBytes)
        self.blockBytes = header.blockBytes
        self.recordBytesMax = recordBytesMax
        self.verifiesPayloads = verifiesPayloads
    }

    /// Checks that `[offset, offset + length)` lies inside the segment and
    /// that its CRC32C is `crc`.
    @inline(__always)
    private func payloadMatches(_ offset: Int, _ length: Int, _ crc: UInt32) -> Bool {
        guard length >= 0, offset + length <= bytes.count else { return false }
        return !verifiesPayloads || CRC32C.checksum(bytes.slice(offset, length)) == crc
    }

    /// Decodes the record whose first fragment is at `fragmentStart(offset)`,
    /// if it continues `chain`: its LSN is `chain.lastLSN + 1`, its epoch is
    /// not older, it chains to `chain.lastCRC`, and every fragment and
    /// payload checksum holds. With `chain == nil`, only the record's own
    /// checksums and internal chain are checked (salvage, random access).
    func record(at offset: Int, continuing chain: ChainState?) -> DecodedRecord? {
        guard offset >= 0, offset < bytes.count else { return nil }
        let start = layout.fragmentStart(atOrAfter: offset)
        guard var h = FragmentHeader.decode(bytes, at: start, seed: seed), h.type.startsRecord else { return nil }
        if let chain {
            guard h.lsn == chain.lastLSN &+ 1, h.epoch >= chain.lastEpoch, h.previousCRC == chain.lastCRC else { return nil }
        } else {
            guard h.lsn >= 1 else { return nil }
        }
        var p = start
        var total = 0
        var count = 0
        while true {
            let room = layout.room(at: p)
            // Every fragment but the last fills its page (the writer takes
            // as much as fits), and none exceeds its page.
            guard h.length <= room, h.type.endsRecord || h.length == room else { return nil }
            let payload = p + JournalFormat.fragmentHeaderBytes
            guard payloadMatches(payload, h.length, h.payloadCRC) else { return nil }
            total += h.length
            count += 1
            guard total <= recordBytesMax else { return nil }
            let end = payload + h.length
            if h.type.endsRecord {
                return DecodedRecord(
                    lsn: h.lsn, start: start, end: end, payloadBytes: total, fragmentCount: count,
                    lastCRC: h.headerCRC, epoch: h.epoch, firstPayloadOffset: start + JournalFormat.fragmentHeaderBytes)
            }
            p = layout.fragmentStart(atOrAfter: end)
            guard let next = FragmentHeader.decode(bytes, at: p, seed: seed),
                  next.type == .middle || next.type == .last,
                  next.lsn == h.lsn, next.epoch == h.epoch, next.previousCRC == h.headerCRC else { return nil }
            h = next
        }
    }

    /// The record that follows a record ending at `end`: at the next
    /// fragment start, or else at the next block boundary (a new batch; the
    /// bytes in between are padding, or what is left of a torn write that
    /// recovery cut).
    func record(after end: Int, continuing chain: ChainState?) -> DecodedRecord? {
        if let r = record(at: end, continuing: chain) { return r }
        let boundary = roundUp(end, blockBytes)
        if boundary > end, boundary != layout.fragmentStart(atOrAfter: end) {
            return record(at: boundary, continuing: chain)
        }
        return nil
    }

    /// Calls `body` with each payload piece of `record`, in order.
    func forEachPayloadPiece(of record: DecodedRecord, _ body: (UnsafeRawBufferPointer) -> Void) {
        var p = record.start
        for _ in 0..<record.fragmentCount {
            let length = Int(bytes.le32(p + 12))
            let payload = p + JournalFormat.fragmentHeaderBytes
            body(bytes.slice(payload, length))
            p = layout.fragmentStart(atOrAfter: payload + length)
        }
    }

    /// The first offset in `[from, to)`, stepping by the fragment alignment,
    /// where a fragment header is valid under this segment's salt and
    /// `accept` agrees. Used to tell a torn tail from corruption and to
    /// resynchronize when salvaging.
    func firstValidFragment(from: Int, to: Int, accept: (FragmentHeader) -> Bool) -> (offset: Int, header: FragmentHeader)? {
        var p = roundUp(max(from, 0), JournalFormat.fragmentAlignment)
        let limit = min(to, bytes.count) - JournalFormat.fragmentHeaderBytes
        while p <= limit {
            // Fast path: a zero type byte (unwritten or padding) is never a header.
            if bytes[p + FragmentHeader.typeOffset] != 0, let h = FragmentHeader.decode(bytes, at: p, seed: seed), accept(h) {
                return (p, h)
            }
            p += JournalFormat.fragmentAlignment
        }
        return nil
    }
}
