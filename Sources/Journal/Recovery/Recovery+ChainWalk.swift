import JournalStorage

// Phase 2: the chain walk (journal-format.md, section 7, rule 2). From the
// first active segment, record after record, each continuing the chain,
// into the next segment when its header continues it; at the end of the
// chain, what lies beyond decides (`Recovery+Beyond.swift`), and in salvage
// mode the walk resumes past a gap.

/// The state of one walk along the chain.
struct ChainWalk {
    let recovery: Recovery
    let inventory: SegmentInventory
    /// Segments that joined the log, in order.
    private(set) var live: [Segment] = []
    private(set) var maxEpoch: UInt32 = 0
    private(set) var chain: ChainState
    private(set) var report = RecoveryReport()
    /// The inventory index of the segment being walked.
    private(set) var index: Int
    /// Where the valid chain ends so far in that segment.
    private(set) var end = JournalFormat.segmentHeaderBytes
    private var decoder: SegmentDecoder
    private var next: DecodedRecord?
    /// The next record follows a salvage gap.
    private var resumed = false

    init(recovery: Recovery, inventory: SegmentInventory, from first: Int) {
        guard case .active(let header, let crc) = inventory.states[first] else {
            preconditionFailure("the walk starts at an active segment")
        }
        self.recovery = recovery
        self.inventory = inventory
        self.index = first
        self.chain = ChainState(lastCRC: crc, lastLSN: header.baseLSN - 1, lastEpoch: header.epoch)
        // A placeholder until `enter` (a method, so every stored property
        // must be set first) makes the segment part of the log.
        self.decoder = SegmentDecoder(bytes: inventory.files[first].bytes, header: header, recordBytesMax: 0, verifiesPayloads: false)
        report.firstLSN = header.baseLSN
        decoder = enter(first)
        // At 128, or at the next block when the segment's first batch tore
        // and a later session resumed there.
        next = decoder.record(after: JournalFormat.segmentHeaderBytes, continuing: chain)
    }

    /// A salvage walk that starts past a damaged log start, at `resume`;
    /// `gap` reports the region skipped.
    init(recovery: Recovery, inventory: SegmentInventory, resumingAt resume: Recovery.Resume, gap: RecoveryReport.Gap) {
        let header: SegmentHeader
        if let derived = resume.derivedHeader {
            header = derived
        } else if case .active(let h, _) = inventory.states[resume.segmentIndex] {
            header = h
        } else {
            preconditionFailure("salvage resumes in an active segment or with a derived header")
        }
        self.recovery = recovery
        self.inventory = inventory
        self.index = resume.segmentIndex
        self.chain = ChainState(lastCRC: 0, lastLSN: resume.lsn - 1, lastEpoch: 0)
        self.decoder = SegmentDecoder(bytes: inventory.files[index].bytes, header: header, recordBytesMax: 0, verifiesPayloads: false)
        report.firstLSN = resume.lsn
        report.outcome = .salvaged
        report.gaps = [gap]
        decoder = enter(index, derived: resume.derivedHeader)
        next = decoder.record(at: resume.offset, continuing: nil)
        assert(next != nil, "salvage resumes at a record that decodes")
        resumed = true
    }

    /// Walks to the end of the log. Throws on damage the mode refuses.
    mutating func run() throws(JournalError) {
        while true {
            readRecords()
            if enterNextSegment() { continue }
            guard try resumePastEnd() else { return }
        }
    }

    /// Makes segment `j` part of the log and returns its decoder: an active
    /// one, or in salvage mode one whose header cannot be used, read with
    /// the `derived` header.
    private mutating func enter(_ j: Int, derived: SegmentHeader? = nil) -> SegmentDecoder {
        let header: SegmentHeader
        let crc: UInt32
        if let derived {
            assert(recovery.mode == .salvage, "only salvage reads files whose header cannot be used")
            (header, crc) = (derived, 0)
        } else if case .active(let h, let c) = inventory.states[j] {
            (header, crc) = (h, c)
        } else {
            preconditionFailure("only active segments join the log outside salvage")
        }
        let segment = inventory.files[j]
        segment.header = header
        segment.headerCRC = crc
        maxEpoch = max(maxEpoch, header.epoch)
        live.append(segment)
        return SegmentDecoder(bytes: segment.bytes, header: header, recordBytesMax: recovery.metadata.recordBytesMax,
                              verifiesPayloads: recovery.verifiesPayloads)
    }

    /// Takes every record that continues the chain in the current segment.
    private mutating func readRecords() {
        let segment = inventory.files[index]
        while let r = next {
            segment.noteRecord(lsn: r.lsn, offset: r.start, resumed: resumed)
            resumed = false
            // The log's first LSN is its first record's: salvage may have
            // skipped records from a segment's base LSN on.
            if report.recordCount == 0 { report.firstLSN = r.lsn }
            report.recordCount += 1
            chain = r.chainAfter
            maxEpoch = max(maxEpoch, r.epoch)
            end = r.end
            next = decoder.record(after: r.end, continuing: chain)
        }
    }

    /// The chain stops at `end` in this segment. If the next file is the
    /// next segment and its header continues the chain, the walk goes on
    /// there; returns whether it does.
    private mutating func enterNextSegment() -> Bool {
        let files = inventory.files
        guard index + 1 < files.count, files[index + 1].index == files[index].index + 1,
              case .active(let h, let c) = inventory.states[index + 1],
              h.baseLSN == chain.lastLSN + 1, h.previousCRC == chain.lastCRC, h.epoch >= chain.lastEpoch else {
            return false
        }
        index += 1
        chain = ChainState(lastCRC: c, lastLSN: h.baseLSN - 1, lastEpoch: h.epoch)
        decoder = enter(index)
        next = decoder.record(after: JournalFormat.segmentHeaderBytes, continuing: chain)
        end = JournalFormat.segmentHeaderBytes
        return true
    }

    /// The end of the valid chain: classifies what lies beyond. Returns
    /// true when salvage resumes past a gap, false at the log's end.
    private mutating func resumePastEnd() throws(JournalError) -> Bool {
        let files = inventory.files
        switch try recovery.examineBeyond(inventory, endIndex: index, end: end, chain: chain, maxEpoch: &maxEpoch) {
        case .clean:
            return false
        case .torn(let bytes, let fragments):
            if recovery.mode == .absoluteConsistency {
                throw .corruption(segment: files[index].name, offset: end, detail: "torn write at the end of the log (\(fragments) fragments in \(bytes) bytes); absolute consistency refuses it")
            }
            if report.outcome == .clean { report.outcome = .tornTailCut }
            report.discardedBytes = bytes
            report.discardedFragments = fragments
            return false
        case .corrupt(let evidence):
            guard recovery.mode == .salvage else {
                throw .corruption(segment: files[index].name, offset: end, detail: "record fails validation but valid records follow at \(files[evidence.segmentIndex].name):\(evidence.offset)")
            }
            report.outcome = .salvaged
            guard let resume = evidence.resume else {
                // Nothing past the end decodes whole: the log ends here, and
                // numbering goes on past every LSN the evidence names.
                let highest = recovery.highestLSNBeyond(inventory, endIndex: index, end: end, chain: chain, maxEpoch: maxEpoch)
                report.gaps.append(.init(segment: files[index].name, offset: end, lastLSNBefore: chain.lastLSN, firstLSNAfter: highest + 1,
                                         resumeSegment: "", resumeOffset: 0))
                chain.lastLSN = highest
                return false
            }
            report.gaps.append(.init(segment: files[index].name, offset: end, lastLSNBefore: chain.lastLSN, firstLSNAfter: resume.lsn,
                                     resumeSegment: files[resume.segmentIndex].name, resumeOffset: resume.offset))
            if resume.segmentIndex != index {
                // Resume in a later segment: the files between leave the log.
                index = resume.segmentIndex
                decoder = enter(index, derived: resume.derivedHeader)
            }
            next = decoder.record(at: resume.offset, continuing: nil)
            assert(next != nil, "salvage resumes at a record that decodes")
            resumed = true
            return true
        }
    }
}
