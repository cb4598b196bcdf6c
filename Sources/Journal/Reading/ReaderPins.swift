// Reader pins: a reader holds a segment's mapping only while it counts in
// the segment's `readers`; truncation waits for them before it releases
// the file.

extension Journal {

    /// Pins the segment holding `lsn` for reading. Lock not held.
    func pinSegment(for lsn: LSN) throws(JournalError) -> (Segment, SegmentHeader, start: (lsn: LSN, offset: Int)) {
        lock.lock()
        defer { lock.unlock() }
        let top = durable.load(ordering: .relaxed)
        guard lsn >= firstLSN, lsn <= top else { throw .lsnOutOfRange(requested: lsn, first: firstLSN, durable: top) }
        var lo = 0
        var hi = segments.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if (segments[mid].header?.baseLSN ?? .max) <= lsn { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0, let header = segments[lo - 1].header, let entry = segments[lo - 1].indexEntry(atOrBefore: lsn) else {
            throw .lsnOutOfRange(requested: lsn, first: firstLSN, durable: top)
        }
        let segment = segments[lo - 1]
        segment.readers += 1
        return (segment, header, entry)
    }

    /// The base LSN of the live segment after `segment`, if any. Lock held.
    func baseLSN(after segment: Segment) -> LSN? {
        guard let i = segments.firstIndex(where: { $0 === segment }), i + 1 < segments.count else { return nil }
        return segments[i + 1].header?.baseLSN
    }

    func unpin(_ segment: Segment) {
        lock.lock()
        segment.readers -= 1
        assert(segment.readers >= 0)
        if segment.readers == 0 { readersDone.broadcast() }
        lock.unlock()
    }

    func decoder(for segment: Segment, header: SegmentHeader) -> SegmentDecoder {
        SegmentDecoder(bytes: segment.bytes, header: header, recordBytesMax: metadata.recordBytesMax,
                       verifiesPayloads: verifiesPayloads)
    }
}
