import JournalPrimitives
import Logging

// Where truncation stops for reader positions, and how far behind each
// position is. Lock held throughout: the segments are the journal's.

extension Journal {

    /// The index of the live segment holding `lsn` (the last one for an LSN
    /// past the log). Lock held; `segments` not empty.
    private func segmentIndexLocked(holding lsn: LSN) -> Int {
        var lo = 0
        var hi = segments.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if (segments[mid].header?.baseLSN ?? .max) <= lsn { lo = mid + 1 } else { hi = mid }
        }
        return max(lo - 1, 0)
    }

    /// Bytes of segment files a position at `lsn` keeps: the segments from
    /// the one holding it through the newest. Lock held.
    func retainedBytesLocked(from lsn: LSN) -> Int {
        guard !segments.isEmpty, lsn >= firstLSN else { return 0 }
        return (segments.count - segmentIndexLocked(holding: lsn)) * metadata.segmentBytes
    }

    /// The LSN truncation may release records below, for a request to
    /// release those below `requested`: the lowest position at or above the
    /// oldest LSN that keeps at most `retainedBytesMax`, if below the
    /// request. Positions beyond the bound are overtaken (logged). Lock held.
    func retentionCutLocked(requested: LSN, named: [(name: String, lsn: LSN)]) -> LSN {
        var positions = named
        for entry in retention.unnamed.values {
            if let p = entry.position, !p.released { positions.append(("", p.lsn)) }
        }
        var cut = requested
        for (name, lsn) in positions where lsn >= firstLSN && lsn < requested {
            let retained = retainedBytesLocked(from: lsn)
            guard retained <= options.retainedBytesMax else {
                logger.warning("truncation overtakes a reader position that retains more than retainedBytesMax", metadata: [
                    "position": "\(name)", "lsn": "\(lsn)", "retainedBytes": "\(retained)", "retainedBytesMax": "\(options.retainedBytesMax)",
                ])
                continue
            }
            cut = min(cut, lsn)
        }
        return cut
    }

    /// The status of a position at `lsn`. Lock held.
    func statusLocked(name: String, lsn: LSN) -> ReaderPositionStatus {
        let top = durable.load(ordering: .relaxed)
        let behind = lsn < firstLSN
        var status = ReaderPositionStatus(name: name, lsn: lsn, lagRecords: lsn <= top ? top - lsn + 1 : 0, lagBytes: 0,
                                          retainedBytes: behind ? 0 : retainedBytesLocked(from: lsn), fellBehind: behind)
        guard status.lagRecords > 0, !behind, !segments.isEmpty else { return status }
        let i = segmentIndexLocked(holding: lsn)
        let offset = segments[i].indexEntry(atOrBefore: lsn)?.offset ?? JournalFormat.segmentHeaderBytes
        let last = segments.count - 1
        status.lagBytes = i == last
            ? max(writeOffset - offset, 0)
            : (last - i) * metadata.segmentBytes - offset + writeOffset
        return status
    }
}
