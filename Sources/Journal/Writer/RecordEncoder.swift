/// Encodes records into a batch buffer following the fragment layout.
struct RecordEncoder {
    let layout: FragmentLayout
    let seed: UInt32
    let epoch: UInt32

    /// Encodes `payload` as record `lsn` starting at segment offset
    /// `offset` (or the next fragment start), into `buffer`, whose byte 0 is
    /// at segment offset `base`. Bytes skipped for alignment or at a page end
    /// are zeroed. Returns the offset just past the record and the checksum
    /// of its last fragment.
    func encode(
        _ payload: UnsafeRawBufferPointer, lsn: LSN, committedLSN: LSN, previousCRC: UInt32,
        into buffer: UnsafeMutableRawBufferPointer, base: Int, at offset: Int
    ) -> (end: Int, lastCRC: UInt32) {
        var p = offset
        var consumed = 0
        var previous = previousCRC
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
            if take > 0, let src = piece.baseAddress {
                (buffer.baseAddress! + payloadAt).copyMemory(from: src, byteCount: take)
            }
            let payloadCRC = CRC32C.checksum(piece)
            previous = FragmentHeader.encode(
                into: buffer, at: start - base, seed: seed, payloadCRC: payloadCRC, previousCRC: previous,
                length: take, lsn: lsn, committedLSN: committedLSN, type: type, epoch: epoch)
            consumed += take
            p = start + JournalFormat.fragmentHeaderBytes + take
            first = false
        } while consumed < payload.count
        return (p, previous)
    }
}
