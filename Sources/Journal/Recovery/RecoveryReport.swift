// What recovery reports to the caller, and the log it hands the writer.

/// What recovery found.
///
/// Recovery runs when a journal opens, reads the log once and writes
/// nothing; `Journal.recoveryReport` keeps its report for the journal's life.
public struct RecoveryReport: Sendable, Equatable, CustomStringConvertible {
    /// How the log ended.
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
        /// The segment file the damaged region starts in.
        public var segment: String
        /// Its byte offset in that file.
        public var offset: Int
        /// The last valid record before the gap.
        public var lastLSNBefore: LSN
        /// The first valid record after it.
        public var firstLSNAfter: LSN
        /// The segment file where reading resumed, at `firstLSNAfter`.
        public var resumeSegment: String
        /// The byte offset in that file of that record's first fragment.
        public var resumeOffset: Int
    }

    /// How the log ended.
    public var outcome: Outcome = .clean
    /// First and last LSN in the log (0 when empty).
    public var firstLSN: LSN = 0
    /// See `firstLSN`.
    public var lastLSN: LSN = 0
    /// Records in the log.
    public var recordCount: Int = 0
    /// Live segment files.
    public var segmentCount: Int = 0
    /// Where the valid log ends: the segment file and the byte offset in it.
    public var endSegment: String = ""
    /// See `endSegment`.
    public var endOffset: Int = 0
    /// Bytes between the end and the last evidence of a torn write.
    public var discardedBytes: Int = 0
    /// Fragments with valid headers found in the discarded region.
    public var discardedFragments: Int = 0
    /// The regions salvage mode skipped, in log order (empty otherwise).
    public var gaps: [Gap] = []
    /// Segment files of the wrong size that salvage mode set aside unread
    /// (journal-format.md, section 2), in index order; other modes refuse
    /// the journal instead.
    public var setAsideSegments: [String] = []

    /// One line: the outcome, the LSN range, where the log ends, and what
    /// was cut or skipped.
    public var description: String {
        var s = "\(outcome.rawValue): LSN \(firstLSN)...\(lastLSN), \(recordCount) records in \(segmentCount) segments"
        if !endSegment.isEmpty { s += ", end at \(endSegment):\(endOffset)" }
        if outcome == .tornTailCut { s += ", cut \(discardedBytes) bytes (\(discardedFragments) fragments)" }
        for g in gaps { s += ", gap at \(g.segment):\(g.offset) (LSN \(g.lastLSNBefore) -> \(g.firstLSNAfter) at \(g.resumeSegment):\(g.resumeOffset))" }
        for name in setAsideSegments { s += ", set aside \(name) (wrong size)" }
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
