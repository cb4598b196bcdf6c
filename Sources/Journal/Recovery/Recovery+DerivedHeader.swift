import JournalStorage

// A file whose segment header cannot be used (blank, damaged, stale, or
// invalid in salvage mode) may still hold fragments: their salt is derived
// from the journal, the file's index and the epoch that activated it
// (journal-format.md, sections 4 and 7.4). Recovery stands a header in for
// the lost one, so that the same decoder checks those fragments and, in
// salvage mode, the file can join the log.

extension Recovery {
    /// A header with the salt derived for `segment`, found from the first
    /// fragment header (from offset 128 upward) that validates under some
    /// candidate epoch, and that offset: offsets before it are never
    /// checked. Its base LSN is a placeholder (1) until the caller knows
    /// the file's first record; nil when no fragment validates.
    func derivedHeader(
        for segment: Segment, epochFloor: UInt32, verifiedEpochMax: UInt32
    ) -> (header: SegmentHeader, firstOffset: Int)? {
        guard let epochs = DerivedSaltSearch.range(floor: epochFloor, verifiedEpochMax: verifiedEpochMax) else { return nil }
        let bytes = segment.bytes
        var search: DerivedSaltSearch?
        var p = JournalFormat.segmentHeaderBytes
        let limit = bytes.count - JournalFormat.fragmentHeaderBytes
        while p <= limit {
            let type = bytes[p + FragmentHeader.typeOffset]
            if type >= 1 && type <= 4 && bytes[p + 33] == 0 && bytes.le16(p + 34) == 0 {
                // The fragment's own epoch, when it validates, is the highest
                // candidate: the common case (the activating session wrote
                // it) needs no table.
                let own = bytes.le32(p + 36)
                var found: UInt32?
                if epochs.contains(own), FragmentHeader.decode(bytes, at: p, seed: FragmentHeader.seed(
                    salt: JournalFormat.salt(journalID: metadata.journalID, index: segment.index, epoch: own))) != nil {
                    found = own
                } else {
                    if search == nil { search = DerivedSaltSearch(journalID: metadata.journalID, index: segment.index, epochs: epochs) }
                    found = search?.epoch(forHeaderAt: p, in: bytes)
                }
                if let epoch = found {
                    let header = SegmentHeader(
                        journalID: metadata.journalID, segmentIndex: segment.index, baseLSN: 1,
                        salt: JournalFormat.salt(journalID: metadata.journalID, index: segment.index, epoch: epoch),
                        epoch: epoch, blockBytes: metadata.blockBytes, pageBytes: metadata.pageBytes,
                        windowBytes: 0, previousCRC: 0)
                    return (header, p)
                }
            }
            p += JournalFormat.fragmentAlignment
        }
        return nil
    }
}
