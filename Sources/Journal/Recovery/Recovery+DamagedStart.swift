import JournalStorage

// Where the log starts: at the lowest active segment, unless a lower file
// whose header is damaged still holds fragments. Then the log's start is
// damaged, and what those fragments prove decides (journal-format.md,
// section 7).

/// Where recovery found the log to start.
enum LogStart {
    /// No segment holds records: an empty log.
    case empty
    /// The log starts at this active segment (an index into the inventory).
    case active(Int)
    /// The lowest file with fragments has a damaged header: the log is
    /// empty and resumes at `firstLSN`, unless evidence past it proves
    /// acknowledged data.
    /// `proven`: its fragments show some LSN was durable.
    case damagedStart(Int, firstLSN: LSN, maxEpoch: UInt32, proven: Bool)
}

extension Recovery {
    func findLogStart(_ inventory: SegmentInventory) throws(JournalError) -> LogStart {
        if let oldest = followingFrom { return followedLogStart(inventory, oldest: oldest) }
        for i in inventory.files.indices {
            let state = inventory.states[i]
            if case .active = state { return .active(i) }
            guard state.mayHideData else { continue }
            var fragments: [FragmentHeader] = []
            forEachFragment(in: inventory.files[i], header: nil, from: JournalFormat.segmentHeaderBytes, epochFloor: 1,
                            verifiedEpochMax: inventory.headerEpochMax, accept: { _ in true }) { _, h in
                fragments.append(h)
                return true
            }
            guard let firstLSN = fragments.map(\.lsn).min() else { continue }
            // Its base LSN is lost with its header. A fragment written when
            // some LSN was durable proves acknowledged records that can no
            // longer be placed: corruption (salvage reads on after it). With
            // none, nothing was ever durable: the torn first write of a new
            // journal.
            let committedMax = fragments.map(\.committedLSN).max() ?? 0
            if committedMax > 0 && mode != .salvage {
                throw .corruption(segment: inventory.files[i].name, offset: 0, detail: "the first segment's header fails its checksum, and its fragments show LSN \(committedMax) was durable")
            }
            return .damagedStart(
                i, firstLSN: committedMax > 0 ? max(firstLSN, committedMax + 1) : 1,
                maxEpoch: fragments.map(\.epoch).max() ?? 0, proven: committedMax > 0)
        }
        return .empty
    }

    /// Where a follower's log starts: at the active segment that holds the
    /// writer's oldest LSN `oldest` (the highest whose base LSN is not above
    /// it), else at the lowest active one. The files below are segments the
    /// writer released, perhaps being recycled: no verdict on them.
    private func followedLogStart(_ inventory: SegmentInventory, oldest: LSN) -> LogStart {
        var start: Int?
        for (i, state) in inventory.states.enumerated() {
            guard case .active(let header, _) = state else { continue }
            if start == nil || header.baseLSN <= oldest { start = i }
            if header.baseLSN >= oldest { break }
        }
        return start.map { .active($0) } ?? .empty
    }

    /// The log's lowest file has a damaged header yet holds fragments. If
    /// they, or anything after, prove acknowledged data, that is corruption;
    /// otherwise it was the torn first write of its segment: the log is empty
    /// and resumes at the first LSN found there.
    func recoverFromDamagedStart(
        _ inventory: SegmentInventory, at i: Int, firstLSN: LSN, maxEpoch: UInt32, proven: Bool
    ) throws(JournalError) -> RecoveredLog {
        let files = inventory.files
        if mode == .salvage, proven, let salvaged = try salvageDamagedStart(inventory, at: i) { return salvaged }
        let chain = ChainState(lastCRC: 0, lastLSN: firstLSN - 1, lastEpoch: 0)
        var maxEpoch = maxEpoch
        var report = RecoveryReport()
        let end = JournalFormat.segmentHeaderBytes
        switch try examineBeyond(inventory, endIndex: i, end: end, chain: chain, maxEpoch: &maxEpoch) {
        case .clean, .torn:
            if mode == .absoluteConsistency {
                throw .corruption(segment: files[i].name, offset: 0, detail: "segment header torn at the start of the log; absolute consistency refuses it")
            }
            report.outcome = .tornTailCut
        case .corrupt(let evidence):
            if mode == .salvage, let salvaged = try salvageDamagedStart(inventory, at: i) { return salvaged }
            throw .corruption(segment: files[i].name, offset: 0, detail: "segment header fails its checksum, but acknowledged records follow at \(files[evidence.segmentIndex].name):\(evidence.offset)")
        }
        return finish(inventory, live: [], endIndex: i, end: end, chain: chain, maxEpoch: maxEpoch, report: report)
    }

    /// Salvage past a damaged log start: the walk begins at the first record
    /// from the damaged file on that decodes whole (in that file with its
    /// derived salt, or in a later file), and the damaged header is
    /// reported as a gap. Nil when no record decodes.
    private func salvageDamagedStart(_ inventory: SegmentInventory, at i: Int) throws(JournalError) -> RecoveredLog? {
        let start = ChainState(lastCRC: 0, lastLSN: 0, lastEpoch: 0)
        guard let resume = findResume(inventory, endIndex: i, end: JournalFormat.segmentHeaderBytes, chain: start,
                                      verifiedEpochMax: inventory.headerEpochMax) else { return nil }
        let files = inventory.files
        let gap = RecoveryReport.Gap(segment: files[i].name, offset: 0, lastLSNBefore: resume.lsn - 1, firstLSNAfter: resume.lsn,
                                     resumeSegment: files[resume.segmentIndex].name, resumeOffset: resume.offset)
        var walk = ChainWalk(recovery: self, inventory: inventory, resumingAt: resume, gap: gap)
        try walk.run()
        return finish(inventory, live: walk.live, endIndex: walk.index, end: walk.end, chain: walk.chain,
                      maxEpoch: walk.maxEpoch, report: walk.report)
    }
}
