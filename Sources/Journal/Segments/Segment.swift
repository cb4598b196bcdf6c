import JournalStorage

/// One segment file of the journal, mapped read-only.
///
/// All mutable fields are guarded by the journal's lock.
final class Segment: @unchecked Sendable {
    let index: UInt64
    let file: any StorageFile
    let mapping: any StorageMapping
    /// Set when the segment is activated (or found active by recovery).
    var header: SegmentHeader?
    var headerCRC: UInt32 = 0
    /// Sparse index for random access: (LSN, offset) of some record starts,
    /// increasing. Always holds the segment's first record.
    var lsnIndex: [(lsn: LSN, offset: Int)] = []
    /// LSN of the last record that starts in this segment (0: none yet).
    var lastLSN: LSN = 0
    /// Readers inside a closure over this segment's mapping.
    var readers = 0

    static let indexStrideBytes = 64 << 10

    init(index: UInt64, file: any StorageFile, mapping: any StorageMapping) {
        self.index = index
        self.file = file
        self.mapping = mapping
    }

    var name: String { JournalFormat.segmentFileName(index: index) }
    var bytes: UnsafeRawBufferPointer { mapping.bytes }

    /// Records a record start in the sparse index. `resumed` marks a record
    /// after a gap that salvage skipped: always indexed, so readers can
    /// jump the gap.
    func noteRecord(lsn: LSN, offset: Int, resumed: Bool = false) {
        assert(lsn > lastLSN, "LSNs increase within a segment")
        if let last = lsnIndex.last {
            if resumed || offset - last.offset >= Self.indexStrideBytes { lsnIndex.append((lsn, offset)) }
        } else {
            lsnIndex.append((lsn, offset))
        }
        lastLSN = lsn
    }

    /// The first indexed record start with an LSN above `lsn`.
    func indexEntry(after lsn: LSN) -> (lsn: LSN, offset: Int)? {
        lsnIndex.first { $0.lsn > lsn }
    }

    /// The indexed record start at or before `lsn`.
    func indexEntry(atOrBefore lsn: LSN) -> (lsn: LSN, offset: Int)? {
        var lo = 0
        var hi = lsnIndex.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if lsnIndex[mid].lsn <= lsn { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : lsnIndex[lo - 1]
    }
}
