import JournalPrimitives
import JournalStorage

// Phase 3: past the end of the valid chain, recovery looks for evidence of
// later writes and decides between a clean end, a torn tail and corruption
// (journal-format.md, section 7, rule 3); in salvage mode it also finds
// where reading may resume.

extension Recovery {
    struct Evidence {
        var segmentIndex: Int
        var offset: Int
        /// The first record past the end that decodes whole (salvage resumes there).
        var resume: Resume?
    }

    /// Where salvage resumes reading after a gap.
    struct Resume {
        /// The inventory index of the file.
        var segmentIndex: Int
        var lsn: LSN
        /// The offset of the record's first fragment.
        var offset: Int
        /// The header derived for a file whose own header cannot be used
        /// (nil for an active segment), with the record's LSN as base LSN.
        var derivedHeader: SegmentHeader?
    }

    enum Verdict {
        case clean
        case torn(bytes: Int, fragments: Int)
        case corrupt(Evidence)
    }

    /// Looks past the end of the valid chain for evidence of later writes,
    /// and decides between a clean end, a torn tail and corruption.
    func examineBeyond(
        _ inventory: SegmentInventory, endIndex: Int, end: Int, chain: ChainState, maxEpoch: inout UInt32
    ) throws(JournalError) -> Verdict {
        // A follower's writer may be writing there: no verdict.
        if following { return .clean }
        let files = inventory.files
        let segmentBytes = metadata.segmentBytes
        let accept = { (h: FragmentHeader) -> Bool in h.epoch >= chain.lastEpoch && h.lsn > chain.lastLSN }
        var lastEvidenceDistance = -1
        var fragments = 0
        var proof: (j: Int, offset: Int)?
        // The end segment from the end on, then every later file that could
        // hold newer writes: active ones past the last LSN, and ones whose
        // header is damaged (checked with the salt each fragment implies).
        for j in endIndex..<files.count {
            let header: SegmentHeader?
            let from: Int
            // Distance in log bytes from the end to this file's offset 0.
            let base: Int
            if j == endIndex {
                header = files[j].header
                from = end
                base = -end
            } else {
                base = (segmentBytes - end) + Int(files[j].index - files[endIndex].index - 1) * segmentBytes
                from = JournalFormat.segmentHeaderBytes
                switch inventory.states[j] {
                case .active(let h, _):
                    guard h.baseLSN > chain.lastLSN, h.epoch >= chain.lastEpoch else { continue }
                    // The header itself is evidence of a write past the end.
                    header = h
                    maxEpoch = max(maxEpoch, h.epoch)
                    lastEvidenceDistance = max(lastEvidenceDistance, base + JournalFormat.segmentHeaderBytes)
                case .blank, .damaged, .stale:
                    header = nil
                }
            }
            // A later file was activated by a session no older than the one
            // that activated the end segment: its salt's epoch is at least that.
            let epochFloor = files[endIndex].header?.epoch ?? 1
            forEachFragment(in: files[j], header: header, from: from, epochFloor: epochFloor,
                            verifiedEpochMax: max(inventory.headerEpochMax, maxEpoch), accept: accept) { offset, h in
                maxEpoch = max(maxEpoch, h.epoch)
                if h.committedLSN > chain.lastLSN {
                    // Written after the record past the end was durable, hence
                    // acknowledged: the damage destroyed acknowledged data.
                    proof = (j, offset)
                    return false
                }
                fragments += 1
                lastEvidenceDistance = max(lastEvidenceDistance, base + offset + JournalFormat.fragmentHeaderBytes + min(h.length, metadata.pageBytes))
                return true
            }
            if let proof {
                let resume = mode == .salvage
                    ? findResume(inventory, endIndex: endIndex, end: end, chain: chain, verifiedEpochMax: max(inventory.headerEpochMax, maxEpoch))
                    : nil
                return .corrupt(Evidence(segmentIndex: proof.j, offset: proof.offset, resume: resume))
            }
        }
        if lastEvidenceDistance < 0 {
            return cleanEndVerdict(files[endIndex], end: end)
        }
        return .torn(bytes: lastEvidenceDistance, fragments: fragments)
    }

    /// No evidence past the end: a clean end, except that absolute
    /// consistency also wants the zero padding of the end's batch intact.
    private func cleanEndVerdict(_ segment: Segment, end: Int) -> Verdict {
        guard mode == .absoluteConsistency, segment.header != nil else { return .clean }
        let block = roundUp(end, metadata.blockBytes)
        if block > end, !segment.bytes.slice(end, min(block, metadata.segmentBytes) - end).isAllZero() {
            return .torn(bytes: block - end, fragments: 0)
        }
        return .clean
    }

    /// Calls `body` with each fragment at or after `from` in `segment` whose
    /// header is valid and that `accept` takes, until `body` returns false.
    /// With `header` nil (the segment header cannot be used), fragments are
    /// checked with the salt the segment's activation epoch implies
    /// (journal-format.md, section 4), found by a bounded search
    /// (`DerivedSaltSearch`) from `epochFloor` up to `verifiedEpochMax` plus
    /// a margin, so data behind a damaged header is still seen.
    func forEachFragment(
        in segment: Segment, header: SegmentHeader?, from: Int, epochFloor: UInt32 = 1, verifiedEpochMax: UInt32,
        accept: (FragmentHeader) -> Bool, _ body: (Int, FragmentHeader) -> Bool
    ) {
        let bytes = segment.bytes
        if let header {
            let decoder = SegmentDecoder(bytes: bytes, header: header, recordBytesMax: metadata.recordBytesMax, verifiesPayloads: verifiesPayloads)
            var p = from
            while let found = decoder.firstValidFragmentSkippingZeros(from: p, to: bytes.count, accept: accept) {
                if !body(found.offset, found.header) { return }
                p = found.offset + JournalFormat.fragmentAlignment
            }
            return
        }
        // The salt comes from the epoch that activated the segment, which is
        // at most the epoch of any fragment in it (later sessions continue a
        // segment with its salt); offsets before the first fragment that
        // validates under it are not revisited.
        guard let derived = derivedHeader(for: segment, epochFloor: epochFloor, verifiedEpochMax: verifiedEpochMax) else { return }
        forEachFragment(in: segment, header: derived.header, from: max(from, derived.firstOffset),
                        verifiedEpochMax: verifiedEpochMax, accept: accept, body)
    }

    /// The first record past the end that starts a record past the last
    /// LSN, with an epoch not older, and decodes whole under its own
    /// checksums: where salvage resumes. Searched from the end in the end
    /// segment, then in every later file: an active one whose base LSN is
    /// past the last LSN (the record at or above its base LSN), or one whose
    /// header cannot be used, with the derived salt (journal-format.md,
    /// section 7.6).
    func findResume(_ inventory: SegmentInventory, endIndex: Int, end: Int, chain: ChainState, verifiedEpochMax: UInt32) -> Resume? {
        let files = inventory.files
        let epochFloor = files[endIndex].header?.epoch ?? 1
        for j in endIndex..<files.count {
            var header: SegmentHeader
            var from = j == endIndex ? end : JournalFormat.segmentHeaderBytes
            var derived = false
            if j == endIndex, let h = files[j].header {
                header = h
            } else if j > endIndex, case .active(let h, _) = inventory.states[j] {
                guard h.baseLSN > chain.lastLSN else { continue }
                header = h
            } else if inventory.states[j].mayHideData,
                      let d = derivedHeader(for: files[j], epochFloor: epochFloor, verifiedEpochMax: verifiedEpochMax) {
                header = d.header
                from = max(from, d.firstOffset)
                derived = true
            } else {
                continue
            }
            let baseLSN = derived ? 1 : header.baseLSN
            let decoder = SegmentDecoder(bytes: files[j].bytes, header: header, recordBytesMax: metadata.recordBytesMax, verifiesPayloads: verifiesPayloads)
            while let found = decoder.firstValidFragmentSkippingZeros(from: from, to: metadata.segmentBytes, accept: {
                $0.type.startsRecord && $0.lsn > chain.lastLSN && $0.lsn >= baseLSN && $0.epoch >= chain.lastEpoch
            }) {
                if decoder.record(at: found.offset, continuing: nil) != nil {
                    if derived { header.baseLSN = found.header.lsn }
                    return Resume(segmentIndex: j, lsn: found.header.lsn, offset: found.offset, derivedHeader: derived ? header : nil)
                }
                from = found.offset + JournalFormat.fragmentAlignment
            }
        }
        return nil
    }

    /// The highest LSN that evidence past the end names, as its own or as
    /// durable (`committedLSN`): where numbering goes on when salvage finds
    /// nothing to resume at, so that no LSN an acknowledged record had is
    /// given to another.
    func highestLSNBeyond(_ inventory: SegmentInventory, endIndex: Int, end: Int, chain: ChainState, maxEpoch: UInt32) -> LSN {
        let files = inventory.files
        let epochFloor = files[endIndex].header?.epoch ?? 1
        let accept = { (h: FragmentHeader) -> Bool in h.epoch >= chain.lastEpoch && h.lsn > chain.lastLSN }
        var highest = chain.lastLSN
        for j in endIndex..<files.count {
            var header = files[j].header
            if j > endIndex {
                switch inventory.states[j] {
                case .active(let h, _):
                    guard h.baseLSN > chain.lastLSN, h.epoch >= chain.lastEpoch else { continue }
                    header = h
                case .blank, .damaged, .stale:
                    header = nil
                }
            }
            forEachFragment(in: files[j], header: header, from: j == endIndex ? end : JournalFormat.segmentHeaderBytes, epochFloor: epochFloor,
                            verifiedEpochMax: max(inventory.headerEpochMax, maxEpoch), accept: accept) { _, h in
                highest = max(highest, h.lsn, h.committedLSN)
                return true
            }
        }
        return highest
    }
}
