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
        // An offset whose type byte is zero holds no header (the first
        // check of `activationEpoch`): runs of them are passed over.
        while let candidate = bytes.nextFragmentCandidate(from: p, through: limit) {
            p = candidate
            if let epoch = activationEpoch(ofHeaderAt: p, in: bytes, index: segment.index, epochs: epochs, search: &search) {
                let header = SegmentHeader(
                    journalID: metadata.journalID, segmentIndex: segment.index, baseLSN: 1,
                    salt: JournalFormat.salt(journalID: metadata.journalID, index: segment.index, epoch: epoch),
                    epoch: epoch, blockBytes: metadata.blockBytes, pageBytes: metadata.pageBytes,
                    windowBytes: 0, previousCRC: 0)
                return (header, p)
            }
            p += JournalFormat.fragmentAlignment
        }
        return nil
    }

    /// The highest epoch in `epochs`, not above the fragment header's own,
    /// under whose salt the header at `p` validates; nil when none does.
    /// Headers no salt can make valid (type, flags, reserved bytes, LSNs)
    /// and epochs below the range are ruled out first; a few candidates are
    /// tried one by one (the common case: the activating session, or one
    /// soon after, wrote the fragment), more through the table, built once.
    private func activationEpoch(
        ofHeaderAt p: Int, in bytes: UnsafeRawBufferPointer, index: UInt64, epochs: ClosedRange<UInt32>,
        search: inout DerivedSaltSearch?
    ) -> UInt32? {
        let type = bytes[p + FragmentHeader.typeOffset]
        guard type >= 1 && type <= 4 && bytes[p + 33] == 0 && bytes.le16(p + 34) == 0 else { return nil }
        let lsn = bytes.le64(p + 16)
        let own = bytes.le32(p + 36)
        guard bytes.le64(p + 24) < lsn, lsn <= JournalFormat.lsnMax, own >= epochs.lowerBound else { return nil }
        let highest = min(own, epochs.upperBound)
        if highest - epochs.lowerBound < Self.epochsTriedOneByOne {
            for epoch in (epochs.lowerBound...highest).reversed() {
                let seed = FragmentHeader.seed(salt: JournalFormat.salt(journalID: metadata.journalID, index: index, epoch: epoch))
                if FragmentHeader.decode(bytes, at: p, seed: seed) != nil { return epoch }
            }
            return nil
        }
        let seed = FragmentHeader.seed(salt: JournalFormat.salt(journalID: metadata.journalID, index: index, epoch: highest))
        if FragmentHeader.decode(bytes, at: p, seed: seed) != nil { return highest }
        if search == nil { search = DerivedSaltSearch.cached(journalID: metadata.journalID, index: index, epochs: epochs) }
        return search?.epoch(forHeaderAt: p, in: bytes, within: epochs)
    }

    /// Below this many candidates, trying each costs less than a table.
    static let epochsTriedOneByOne: UInt32 = 64
}
