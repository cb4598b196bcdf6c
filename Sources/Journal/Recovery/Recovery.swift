import JournalStorage
import JournalPrimitives

// Recovery: how an open finds the valid end of the log.
//
// It reads, checks and reports; it never writes. Running it twice on the
// same bytes gives the same result, and a power cut during it changes
// nothing. The rules are those of journal-format.md, "Recovery":
//
// 1. Segment files are taken in index order. A file whose header is valid
//    and names its own index is *active*; zeros, a stale header (a recycled
//    file, whose header names its old index) or a header of a newer format
//    (an error) are told apart.
// 2. The log starts at the lowest active segment and runs record by record,
//    each continuing the chain (LSN + 1, previous checksum, epoch not older),
//    into the next segment when that one's header continues the chain.
// 3. Where the chain stops is the end E. Past E, recovery looks for
//    *evidence*: fragment headers valid under the segment's salt with an LSN
//    past the last record and an epoch not older than the last record's.
//    None: a clean end. Every fragment records the durable LSN its writer
//    knew (committedLSN). Evidence with committedLSN past the last valid
//    record proves the record after it had been acknowledged: corruption, an
//    error naming segment and offset (or, in salvage mode, a gap to skip).
//    Otherwise the evidence is of writes that were in flight together with
//    the damaged one and acknowledged none of it: a torn tail, cut.
// 4. The next writer session gets an epoch above every epoch seen, so no
//    fragment left behind by a cut write can ever pass as valid again.

/// What recovery found.
public struct RecoveryReport: Sendable, Equatable, CustomStringConvertible {
    public enum Outcome: String, Sendable {
        /// The log ends where the last write ended.
        case clean
        /// Damage at the end that only unacknowledged writes could have
        /// caused was cut off.
        case tornTailCut = "torn-tail-cut"
        /// Damaged regions were skipped (salvage mode).
        case salvaged
    }

    /// A region skipped in salvage mode.
    public struct Gap: Sendable, Equatable {
        public var segment: String
        public var offset: Int
        public var lastLSNBefore: LSN
        public var firstLSNAfter: LSN
    }

    public var outcome: Outcome = .clean
    /// First and last LSN in the log (0 when empty).
    public var firstLSN: LSN = 0
    public var lastLSN: LSN = 0
    public var recordCount: Int = 0
    public var segmentCount: Int = 0
    /// Where the valid log ends.
    public var endSegment: String = ""
    public var endOffset: Int = 0
    /// Bytes between the end and the last evidence of a torn write.
    public var discardedBytes: Int = 0
    /// Fragments with valid headers found in the discarded region.
    public var discardedFragments: Int = 0
    public var gaps: [Gap] = []

    public var description: String {
        var s = "\(outcome.rawValue): LSN \(firstLSN)...\(lastLSN), \(recordCount) records in \(segmentCount) segments"
        if !endSegment.isEmpty { s += ", end at \(endSegment):\(endOffset)" }
        if outcome == .tornTailCut { s += ", cut \(discardedBytes) bytes (\(discardedFragments) fragments)" }
        for g in gaps { s += ", gap at \(g.segment):\(g.offset) (LSN \(g.lastLSNBefore) -> \(g.firstLSNAfter))" }
        return s
    }
}

/// The log as recovery left it: the live segments and where writing resumes.
struct RecoveredLog {
    var segments: [Segment]
    /// Segment files past the log (prepared or cut), in index order: the
    /// writer reuses them as its next segments.
    var unusedSegments: [Segment]
    /// `spare-*.seg` files.
    var spareNames: [String]
    /// Files recovery leaves alone (temporary files of an interrupted create).
    var leftoverNames: [String]
    var chain: ChainState
    /// Where the next batch goes in the last live segment.
    var writeOffset: Int
    /// Epoch for the next writer session.
    var nextEpoch: UInt32
    var highestIndex: UInt64
    var report: RecoveryReport
}

struct Recovery {
    let storage: any StorageDirectory
    let metadata: JournalMetadata
    let mode: RecoveryMode
    /// Open segment files for writing (a writer's recovery) or reading only.
    let writable: Bool
    /// False only under the `skipPayloadChecksums` test defect.
    var verifiesPayloads = true

    /// Reads and checks `journal.meta`.
    static func readMetadata(_ storage: any StorageDirectory, writable: Bool) throws(JournalError) -> JournalMetadata {
        let names: [String]
        do { names = try storage.fileNames() } catch { throw JournalError.from(error) }
        guard names.contains(JournalFormat.metadataFileName) else {
            throw .notAJournal(path: storage.path, reason: "no \(JournalFormat.metadataFileName)")
        }
        let file: any StorageFile
        do {
            // A writer opens it for writing, to learn early of a read-only
            // file system or missing permission.
            file = writable ? try storage.open(JournalFormat.metadataFileName) : try storage.openReadOnly(JournalFormat.metadataFileName)
        } catch {
            throw JournalError.from(error)
        }
        defer { file.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: JournalFormat.metadataBytes, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        let n: Int
        do { n = try file.read(into: buffer, at: 0) } catch { throw JournalError.from(error) }
        guard n >= 128 else { throw .notAJournal(path: storage.path, reason: "\(JournalFormat.metadataFileName) is \(n) bytes") }
        do {
            return try JournalMetadata.decode(UnsafeRawBufferPointer(buffer))
        } catch {
            switch error {
            case .badMagic: throw .notAJournal(path: storage.path, reason: "bad magic in \(JournalFormat.metadataFileName)")
            case .badChecksum: throw .notAJournal(path: storage.path, reason: "\(JournalFormat.metadataFileName) fails its checksum")
            case .newerVersion(let v): throw .newerFormat(path: storage.path, found: v, supported: JournalFormat.version)
            case .invalidField(let f): throw .notAJournal(path: storage.path, reason: "invalid metadata: \(f)")
            }
        }
    }

    private enum HeaderState {
        case active(SegmentHeader, crc: UInt32)
        /// A valid header naming another index: a reused file not yet
        /// activated. Its fragments belong to another salt.
        case stale
        /// No magic: zeros (never written) or a damaged header.
        case blank
        /// Magic present but the checksum fails: a torn activation or damage.
        case damaged

        /// A file whose header cannot be used, but whose fragments might be
        /// found with the salt derived for its index: a stale header can be
        /// left in place when the write that activated the file went astray.
        var mayHideData: Bool {
            switch self {
            case .blank, .damaged, .stale: true
            case .active: false
            }
        }
    }

    private func classify(_ segment: Segment) throws(JournalError) -> HeaderState {
        let bytes = segment.bytes
        guard bytes.count == metadata.segmentBytes else {
            throw .corruption(segment: segment.name, offset: 0, detail: "file is \(bytes.count) bytes, segments are \(metadata.segmentBytes)")
        }
        do {
            let (header, crc) = try SegmentHeader.decode(bytes)
            guard header.journalID == metadata.journalID else {
                throw JournalError.corruption(segment: segment.name, offset: 0, detail: "segment belongs to another journal")
            }
            guard header.segmentIndex == segment.index else { return .stale }
            guard header.blockBytes == metadata.blockBytes, header.pageBytes == metadata.pageBytes else {
                throw JournalError.corruption(segment: segment.name, offset: 0, detail: "block or page size differs from the journal's")
            }
            return .active(header, crc: crc)
        } catch let problem as HeaderProblem {
            switch problem {
            case .badMagic: return .blank
            case .invalidField: return .damaged
            case .badChecksum: return .damaged
            case .newerVersion(let v): throw .newerFormat(path: storage.path + "/" + segment.name, found: v, supported: JournalFormat.version)
            }
        } catch let error as JournalError {
            throw error
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
    }

    func run() throws(JournalError) -> RecoveredLog {
        let names: [String]
        do { names = try storage.fileNames() } catch { throw JournalError.from(error) }
        var indexed: [(UInt64, String)] = []
        var spares: [String] = []
        var leftovers: [String] = []
        for name in names {
            if name == JournalFormat.metadataFileName { continue }
            if let index = JournalFormat.segmentIndex(fileName: name) {
                indexed.append((index, name))
            } else if name.hasPrefix(JournalFormat.spareFilePrefix) && name.hasSuffix(JournalFormat.segmentFileSuffix) {
                spares.append(name)
            } else {
                leftovers.append(name)
            }
        }
        indexed.sort { $0.0 < $1.0 }

        var files: [Segment] = []
        var states: [HeaderState] = []
        for (index, name) in indexed {
            do {
                let file = writable ? try storage.open(name) : try storage.openReadOnly(name)
                let mapping = try file.mapReadOnly()
                let segment = Segment(index: index, file: file, mapping: mapping)
                files.append(segment)
                states.append(try classify(segment))
            } catch let e as StorageError {
                throw JournalError.from(e)
            } catch let e as JournalError {
                throw e
            } catch {
                preconditionFailure("unexpected error \(error)")
            }
        }
        let highestIndex = indexed.last?.0 ?? 0

        var report = RecoveryReport()
        // The log starts at the lowest active file, unless a lower file whose
        // header is damaged still holds fragments: then the log's start is
        // damaged, and what those fragments prove decides (section 7).
        var firstActive: Int?
        for i in files.indices {
            if case .active = states[i] {
                firstActive = i
                break
            }
            if states[i].mayHideData {
                var fragments: [FragmentHeader] = []
                forEachFragment(in: files[i], header: nil, from: JournalFormat.segmentHeaderBytes, epochFloor: 1, accept: { _ in true }) { _, h in
                    fragments.append(h)
                    return true
                }
                if let firstLSN = fragments.map(\.lsn).min() {
                    // Its base LSN is lost with its header. A fragment written
                    // when some LSN was durable proves acknowledged records
                    // that can no longer be placed: corruption (salvage reads
                    // on after it). With none, nothing was ever durable: the
                    // torn first write of a new journal.
                    let committedMax = fragments.map(\.committedLSN).max() ?? 0
                    if committedMax > 0 && mode != .salvage {
                        throw .corruption(segment: files[i].name, offset: 0, detail: "the first segment's header fails its checksum, and its fragments show LSN \(committedMax) was durable")
                    }
                    return try recoverFromDamagedStart(
                        files: files, states: states, at: i,
                        firstLSN: committedMax > 0 ? max(firstLSN, committedMax + 1) : 1,
                        maxEpoch: fragments.map(\.epoch).max() ?? 0,
                        highestIndex: highestIndex, spares: spares, leftovers: leftovers)
                }
            }
        }
        guard let firstActive else {
            return RecoveredLog(
                segments: [], unusedSegments: files, spareNames: spares, leftoverNames: leftovers,
                chain: ChainState(lastCRC: 0, lastLSN: 0, lastEpoch: 0), writeOffset: 0,
                nextEpoch: 1, highestIndex: highestIndex, report: report)
        }

        var live: [Segment] = []
        var maxEpoch: UInt32 = 0
        var i = firstActive
        guard case .active(let firstHeader, let firstCRC) = states[i] else { preconditionFailure() }
        var chain = ChainState(lastCRC: firstCRC, lastLSN: firstHeader.baseLSN - 1, lastEpoch: firstHeader.epoch)
        report.firstLSN = firstHeader.baseLSN

        /// Makes active segment `j` part of the log and returns its decoder.
        func enter(_ j: Int) -> SegmentDecoder {
            guard case .active(let header, let crc) = states[j] else { preconditionFailure("only active segments join the log") }
            files[j].header = header
            files[j].headerCRC = crc
            maxEpoch = max(maxEpoch, header.epoch)
            live.append(files[j])
            return SegmentDecoder(bytes: files[j].bytes, header: header, recordBytesMax: metadata.recordBytesMax, verifiesPayloads: verifiesPayloads)
        }

        var decoder = enter(i)
        // At 128, or at the next block when the segment's first batch tore
        // and a later session resumed there.
        var next = decoder.record(after: JournalFormat.segmentHeaderBytes, continuing: chain)
        var end = JournalFormat.segmentHeaderBytes
        var resumed = false
        scanning: while true {
            while let r = next {
                files[i].noteRecord(lsn: r.lsn, offset: r.start, resumed: resumed)
                resumed = false
                report.recordCount += 1
                chain = r.chainAfter
                maxEpoch = max(maxEpoch, r.epoch)
                end = r.end
                next = decoder.record(after: r.end, continuing: chain)
            }
            // The chain stops at `end` in this segment. Does the next segment
            // continue it?
            if i + 1 < files.count, files[i + 1].index == files[i].index + 1,
               case .active(let h, let c) = states[i + 1],
               h.baseLSN == chain.lastLSN + 1, h.previousCRC == chain.lastCRC, h.epoch >= chain.lastEpoch {
                i += 1
                chain = ChainState(lastCRC: c, lastLSN: h.baseLSN - 1, lastEpoch: h.epoch)
                decoder = enter(i)
                next = decoder.record(after: JournalFormat.segmentHeaderBytes, continuing: chain)
                end = JournalFormat.segmentHeaderBytes
                continue
            }
            // The end of the valid chain. Classify what lies beyond.
            switch try examineBeyond(files: files, states: states, endIndex: i, end: end, chain: chain, maxEpoch: &maxEpoch) {
            case .clean:
                break scanning
            case .torn(let bytes, let fragments):
                if mode == .absoluteConsistency {
                    throw .corruption(segment: files[i].name, offset: end, detail: "torn write at the end of the log (\(fragments) fragments in \(bytes) bytes); absolute consistency refuses it")
                }
                if report.outcome == .clean { report.outcome = .tornTailCut }
                report.discardedBytes = bytes
                report.discardedFragments = fragments
                break scanning
            case .corrupt(let evidence):
                guard mode == .salvage, let resume = evidence.resume else {
                    throw .corruption(segment: files[i].name, offset: end, detail: "record fails validation but valid records follow at \(files[evidence.segmentIndex].name):\(evidence.offset)")
                }
                report.outcome = .salvaged
                report.gaps.append(.init(segment: files[i].name, offset: end, lastLSNBefore: chain.lastLSN, firstLSNAfter: resume.lsn))
                if resume.segmentIndex != i {
                    // Resume in a later segment: the files between leave the log.
                    i = resume.segmentIndex
                    decoder = enter(i)
                }
                next = decoder.record(at: resume.offset, continuing: nil)
                assert(next != nil, "salvage resumes at a record that decodes")
                resumed = true
            }
        }
        return finish(files: files, live: live, endIndex: i, end: end, chain: chain, maxEpoch: maxEpoch,
                      report: report, highestIndex: highestIndex, spares: spares, leftovers: leftovers)
    }

    private func finish(
        files: [Segment], live: [Segment], endIndex: Int, end: Int, chain: ChainState, maxEpoch: UInt32,
        report: RecoveryReport, highestIndex: UInt64, spares: [String], leftovers: [String]
    ) -> RecoveredLog {
        var report = report
        let last = files[endIndex]
        report.lastLSN = chain.lastLSN
        if report.recordCount == 0 { report.firstLSN = 0 }
        report.segmentCount = live.count
        report.endSegment = last.name
        report.endOffset = end
        let unused = live.isEmpty ? Array(files[endIndex...]) : files[(endIndex + 1)...].filter { $0.index > last.index }
        return RecoveredLog(
            segments: live, unusedSegments: Array(unused), spareNames: spares, leftoverNames: leftovers,
            chain: chain, writeOffset: roundUp(end, metadata.blockBytes),
            nextEpoch: maxEpoch &+ 1, highestIndex: highestIndex, report: report)
    }

    private struct Evidence {
        var segmentIndex: Int
        var offset: Int
        /// The first record past the end that decodes whole (salvage resumes there).
        var resume: (segmentIndex: Int, lsn: LSN, offset: Int)?
    }

    private enum Verdict {
        case clean
        case torn(bytes: Int, fragments: Int)
        case corrupt(Evidence)
    }

    /// Looks past the end of the valid chain for evidence of later writes,
    /// and decides between a clean end, a torn tail and corruption.
    private func examineBeyond(
        files: [Segment], states: [HeaderState], endIndex: Int, end: Int, chain: ChainState, maxEpoch: inout UInt32
    ) throws(JournalError) -> Verdict {
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
                switch states[j] {
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
            forEachFragment(in: files[j], header: header, from: from, epochFloor: epochFloor, accept: accept) { offset, h in
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
                return .corrupt(Evidence(segmentIndex: proof.j, offset: proof.offset, resume: findResume(files: files, states: states, endIndex: endIndex, end: end, chain: chain)))
            }
        }
        if lastEvidenceDistance < 0 {
            if mode == .absoluteConsistency, files[endIndex].header != nil {
                // A clean end is followed by the zero padding of its batch.
                let block = roundUp(end, metadata.blockBytes)
                if block > end, !files[endIndex].bytes.slice(end, min(block, segmentBytes) - end).isAllZero() {
                    return .torn(bytes: block - end, fragments: 0)
                }
            }
            return .clean
        }
        return .torn(bytes: lastEvidenceDistance, fragments: fragments)
    }

    /// Calls `body` with each fragment at or after `from` in `segment` whose
    /// header is valid and that `accept` takes, until `body` returns false.
    /// With `header` nil (the segment header is damaged), fragments are
    /// checked with the salt the segment's activation epoch implies
    /// (journal-format.md, section 4), found by search, so data behind a
    /// damaged header is still seen.
    private func forEachFragment(
        in segment: Segment, header: SegmentHeader?, from: Int, epochFloor: UInt32 = 1,
        accept: (FragmentHeader) -> Bool, _ body: (Int, FragmentHeader) -> Bool
    ) {
        let bytes = segment.bytes
        if let header {
            let decoder = SegmentDecoder(bytes: bytes, header: header, recordBytesMax: metadata.recordBytesMax, verifiesPayloads: verifiesPayloads)
            var p = from
            while let found = decoder.firstValidFragment(from: p, to: bytes.count, accept: accept) {
                if !body(found.offset, found.header) { return }
                p = found.offset + JournalFormat.fragmentAlignment
            }
            return
        }
        // The salt comes from the epoch that activated the segment, which is
        // at most the epoch of any fragment in it (later sessions continue a
        // segment with its salt). Find it once, from the first fragment that
        // validates, trying epochs downward from the fragment's own.
        var seed: UInt32?
        var candidatesTried = 0
        let candidatesMax = 1 << 20
        var p = roundUp(max(JournalFormat.segmentHeaderBytes, 0), JournalFormat.fragmentAlignment)
        let limit = bytes.count - JournalFormat.fragmentHeaderBytes
        while p <= limit {
            let type = bytes[p + FragmentHeader.typeOffset]
            if type >= 1 && type <= 4 && bytes[p + 33] == 0 && bytes.le16(p + 34) == 0 {
                if let seed {
                    if p >= from, let h = FragmentHeader.decode(bytes, at: p, seed: seed), accept(h) {
                        if !body(p, h) { return }
                    }
                } else if candidatesTried < candidatesMax {
                    var epoch = bytes.le32(p + 36)
                    while epoch >= max(epochFloor, 1) && candidatesTried < candidatesMax {
                        candidatesTried += 1
                        let candidate = FragmentHeader.seed(salt: JournalFormat.salt(journalID: metadata.journalID, index: segment.index, epoch: epoch))
                        if FragmentHeader.decode(bytes, at: p, seed: candidate) != nil {
                            seed = candidate
                            break
                        }
                        epoch -= 1
                    }
                    if let seed, p >= from, let h = FragmentHeader.decode(bytes, at: p, seed: seed), accept(h) {
                        if !body(p, h) { return }
                    }
                }
            }
            p += JournalFormat.fragmentAlignment
        }
    }

    /// The log's lowest file has a damaged header yet holds fragments. If
    /// they, or anything after, prove acknowledged data, that is corruption;
    /// otherwise it was the torn first write of its segment: the log is empty
    /// and resumes at the first LSN found there.
    private func recoverFromDamagedStart(
        files: [Segment], states: [HeaderState], at i: Int, firstLSN: LSN, maxEpoch: UInt32,
        highestIndex: UInt64, spares: [String], leftovers: [String]
    ) throws(JournalError) -> RecoveredLog {
        let chain = ChainState(lastCRC: 0, lastLSN: firstLSN - 1, lastEpoch: 0)
        var maxEpoch = maxEpoch
        var report = RecoveryReport()
        let end = JournalFormat.segmentHeaderBytes
        switch try examineBeyond(files: files, states: states, endIndex: i, end: end, chain: chain, maxEpoch: &maxEpoch) {
        case .clean, .torn:
            if mode == .absoluteConsistency {
                throw .corruption(segment: files[i].name, offset: 0, detail: "segment header torn at the start of the log; absolute consistency refuses it")
            }
            report.outcome = .tornTailCut
        case .corrupt(let evidence):
            throw .corruption(segment: files[i].name, offset: 0, detail: "segment header fails its checksum, but acknowledged records follow at \(files[evidence.segmentIndex].name):\(evidence.offset)")
        }
        return finish(files: files, live: [], endIndex: i, end: end, chain: chain, maxEpoch: maxEpoch,
                      report: report, highestIndex: highestIndex, spares: spares, leftovers: leftovers)
    }

    /// The first record past the end, in the end segment or a later active
    /// one, that starts a record past the last LSN and decodes whole under
    /// its own checksums: where salvage resumes.
    private func findResume(files: [Segment], states: [HeaderState], endIndex: Int, end: Int, chain: ChainState) -> (segmentIndex: Int, lsn: LSN, offset: Int)? {
        for j in endIndex..<files.count {
            let header: SegmentHeader
            if j == endIndex {
                guard let h = files[j].header else { continue }
                header = h
            } else {
                guard case .active(let h, _) = states[j], h.baseLSN > chain.lastLSN else { continue }
                header = h
            }
            let decoder = SegmentDecoder(bytes: files[j].bytes, header: header, recordBytesMax: metadata.recordBytesMax, verifiesPayloads: verifiesPayloads)
            var from = j == endIndex ? end : JournalFormat.segmentHeaderBytes
            while let found = decoder.firstValidFragment(from: from, to: metadata.segmentBytes, accept: {
                $0.type.startsRecord && $0.lsn > chain.lastLSN && $0.lsn >= header.baseLSN && $0.epoch >= chain.lastEpoch
            }) {
                if decoder.record(at: found.offset, continuing: nil) != nil { return (j, found.header.lsn, found.offset) }
                from = found.offset + JournalFormat.fragmentAlignment
            }
        }
        return nil
    }
}
