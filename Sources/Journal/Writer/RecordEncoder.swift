import JournalPrimitives

/// Encodes records into a batch buffer following the fragment layout.
///
/// Encoding is in two steps, so that appenders can copy records into a
/// batch at the same time and outside the journal's lock: `encodeUnchained`
/// writes a record's payload and every header field that depends only on the
/// record; `chain` then links the fragments of a stretch of the log, in
/// order (each header holds the checksum of the one before).
struct RecordEncoder {
    let layout: FragmentLayout
    let seed: UInt32
    let epoch: UInt32

    /// Encodes `payload` as record `lsn` starting at segment offset
    /// `offset` (or the next fragment start), into `buffer`, whose byte 0 is
    /// at segment offset `base`, chained to `previousCRC`. Returns the
    /// offset just past the record and the checksum of its last fragment.
    func encode(
        _ payload: UnsafeRawBufferPointer, lsn: LSN, committedLSN: LSN, previousCRC: UInt32,
        into buffer: UnsafeMutableRawBufferPointer, base: Int, at offset: Int
    ) -> (end: Int, lastCRC: UInt32) {
        let end = encodeUnchained(payload, lsn: lsn, committedLSN: committedLSN, into: buffer, base: base, at: offset)
        let chained = chain(buffer, base: base, from: layout.fragmentStart(atOrAfter: offset), to: end, previousCRC: previousCRC)
        return (end, chained.lastCRC)
    }

    /// Writes record `lsn` at segment offset `offset` (or the next fragment
    /// start) into `buffer` (byte 0 at segment offset `base`): payload
    /// pieces, their checksums, and every header field but the chain. Bytes
    /// skipped for alignment or at a page end are zeroed. Touches only
    /// `[offset, end)`. Returns `end`, the offset just past the record.
    func encodeUnchained(
        _ payload: UnsafeRawBufferPointer, lsn: LSN, committedLSN: LSN,
        into buffer: UnsafeMutableRawBufferPointer, base: Int, at offset: Int
    ) -> Int {
        var p = offset
        var consumed = 0
        var first = true
        repeat {
            let start = layout.fragmentStart(atOrAfter: p)
            if start > p {
                UnsafeMutableRawBufferPointer(rebasing: buffer[(p - base)..<(start - base)]).initializeMemory(as: UInt8.self, repeating: 0)
            }
            let take = min(payload.count - consumed, layout.room(at: start))
            let isLast = consumed + take == payload.count
            let type: FragmentType = first ? (isLast ? .full : .first) : (isLast ? .last : .middle)
            let piece = payload.count == 0 ? UnsafeRawBufferPointer(start: nil, count: 0) : payload.slice(consumed, take)
            let payloadAt = start - base + JournalFormat.fragmentHeaderBytes
            assert(payloadAt + take <= buffer.count, "the batch has room for the record")
            // One pass over the payload: copied and checksummed together.
            let payloadCRC = CRC32C.copy(piece, to: buffer.baseAddress! + payloadAt)
            FragmentHeader.encodeUnchained(
                into: buffer, at: start - base, payloadCRC: payloadCRC, length: take, lsn: lsn,
                committedLSN: committedLSN, type: type, epoch: epoch)
            consumed += take
            p = start + JournalFormat.fragmentHeaderBytes + take
            first = false
        } while consumed < payload.count
        return p
    }

    /// Chains the fragments of `[first, end)` (segment offsets; `first` a
    /// fragment start, `end` the end of a record), all written by
    /// `encodeUnchained`: the first to `previousCRC`, each next one to the
    /// one before. Returns the checksum of the last and the fragment count.
    func chain(
        _ buffer: UnsafeMutableRawBufferPointer, base: Int, from first: Int, to end: Int, previousCRC: UInt32
    ) -> (lastCRC: UInt32, fragments: Int) {
        var p = first
        var previous = previousCRC
        var count = 0
        while p < end {
            assert(p == layout.fragmentStart(atOrAfter: p), "fragments start where the layout puts them")
            let length = Int(UnsafeRawBufferPointer(buffer).le32(p - base + 12))
            previous = FragmentHeader.chain(buffer, at: p - base, seed: seed, previousCRC: previous)
            count += 1
            let next = p + JournalFormat.fragmentHeaderBytes + length
            assert(next <= end, "a fragment ends inside the stretch")
            if next == end { break }
            p = layout.fragmentStart(atOrAfter: next)
        }
        return (previous, count)
    }
}
