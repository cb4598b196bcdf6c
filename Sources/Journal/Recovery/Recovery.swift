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
//
// The code follows the phases: `Recovery+Inventory.swift` lists the files
// and classifies each header (rule 1); `findLogStart` picks the first
// active segment, or a damaged start (`Recovery+DamagedStart.swift`);
// `Recovery+ChainWalk.swift` walks the chain (rule 2) and, at its end,
// `Recovery+Beyond.swift` looks for evidence past it (rule 3); `finish`
// hands the writer the log and the next epoch (rule 4).

struct Recovery {
    let storage: any StorageDirectory
    let metadata: JournalMetadata
    let mode: RecoveryMode
    /// Open segment files for writing (a writer's recovery) or reading only.
    let writable: Bool
    /// False only under the `skipPayloadChecksums` test defect.
    var verifiesPayloads = true
    /// Set for a follower in another process, which reads files a live
    /// writer may be changing, to the oldest LSN that writer published: it
    /// concludes nothing from those files (journal-format.md, section 11,
    /// "A follower's open"). The log starts at the active segment that holds that LSN, files that
    /// vanish are skipped (released), and what lies past the chain's end is
    /// not judged (perhaps being written). The caller checks the result
    /// against what the writer published (`Journal+FollowingOpen.swift`).
    var followingFrom: LSN?
    var following: Bool { followingFrom != nil }

    /// Finds the valid end of the log. Reads only.
    func run() throws(JournalError) -> RecoveredLog {
        let inventory = try takeInventory()
        var log = try recover(inventory)
        if !inventory.setAsideNames.isEmpty {
            // Salvage read on without those files: what it returns is
            // incomplete by as much as they held.
            log.report.setAsideSegments = inventory.setAsideNames
            log.report.outcome = .salvaged
        }
        return log
    }

    private func recover(_ inventory: SegmentInventory) throws(JournalError) -> RecoveredLog {
        switch try findLogStart(inventory) {
        case .empty:
            return RecoveredLog(
                segments: [], unusedSegments: inventory.files, spareNames: inventory.spareNames,
                leftoverNames: inventory.leftoverNames, chain: ChainState(lastCRC: 0, lastLSN: 0, lastEpoch: 0),
                writeOffset: 0, nextEpoch: 1, highestIndex: inventory.highestIndex, report: RecoveryReport())
        case .damagedStart(let i, let firstLSN, let maxEpoch, let proven):
            return try recoverFromDamagedStart(inventory, at: i, firstLSN: firstLSN, maxEpoch: maxEpoch, proven: proven)
        case .active(let i):
            var walk = ChainWalk(recovery: self, inventory: inventory, from: i)
            try walk.run()
            return finish(inventory, live: walk.live, endIndex: walk.index, end: walk.end, chain: walk.chain,
                          maxEpoch: walk.maxEpoch, report: walk.report)
        }
    }

    /// The log as the writer takes it over: the live segments, the files
    /// past the end, where the next batch goes and the next epoch.
    func finish(
        _ inventory: SegmentInventory, live: [Segment], endIndex: Int, end: Int, chain: ChainState,
        maxEpoch: UInt32, report: RecoveryReport
    ) -> RecoveredLog {
        var report = report
        let files = inventory.files
        let last = files[endIndex]
        report.lastLSN = chain.lastLSN
        if report.recordCount == 0 { report.firstLSN = 0 }
        report.segmentCount = live.count
        report.endSegment = last.name
        report.endOffset = end
        let unused = live.isEmpty ? Array(files[endIndex...]) : files[(endIndex + 1)...].filter { $0.index > last.index }
        return RecoveredLog(
            segments: live, unusedSegments: Array(unused), spareNames: inventory.spareNames,
            leftoverNames: inventory.leftoverNames, chain: chain, writeOffset: roundUp(end, metadata.blockBytes),
            nextEpoch: maxEpoch &+ 1, highestIndex: inventory.highestIndex, report: report)
    }

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
}
