@_spi(Testing) public import Journal

/// The parameters of a journal crash workload: how many appenders write how
/// many records of what sizes, on what geometry (small segments force
/// rollover), with what truncation, sessions and faults.
public struct JournalWorkloadParameters: Sendable, Equatable, CustomStringConvertible {
    /// Logical appenders interleaved on one thread.
    public var appenders = 3
    /// Records each appender may have enqueued and not yet durable.
    public var outstandingPerAppenderMax = 2
    /// Records appended over the whole run (all sessions).
    public var records = 12
    /// Sizes of ordinary records, bytes (at least 8: a payload names its LSN).
    public var payloadBytes: ClosedRange<Int> = 8...600
    /// Share of records larger than a page (fragmented over pages).
    public var multiPageShare = 0.1
    /// Writer sessions: each ends with a clean close or a crash of the
    /// workload's own, the last runs until every record is durable.
    public var sessions = 1
    /// Share of appends made with `appendBlocking` (which waits until the
    /// record is durable, pumping; when the journal is idle the appender
    /// writes its batch itself: the inline write path) rather than
    /// `enqueue`.
    public var blockingAppendShare = 0.0
    /// Per step, the chance to truncate before a random LSN up to the durable one.
    public var truncateProbability = 0.0
    /// Per step, the chance to create or advance a named reader position
    /// (`JournalCrashWorkload+Positions.swift`).
    public var positionProbability = 0.0
    /// The journal's `retainedBytesMax`, in segments: a position that keeps
    /// more is overtaken. 0: no bound.
    public var retainedSegmentsMax = 0
    public var segmentBytes = 16 << 10
    public var pageBytes = 4096
    public var blockBytes = 512
    public var recordBytesMax = 6000
    public var inFlightBatchesMax = 2
    public var batchBytesMax = 4096
    public var spareSegments = 1
    public var recycledSegmentsMax = 1
    public var profile: CrashFaultProfile = .none
    @_spi(Testing) public var defects: JournalDefects = []

    public init() {}

    /// Limits on every parameter, so the CLI can refuse bad ones.
    public static let appendersRange = 1...64
    public static let recordsRange = 1...1_000_000
    public static let sessionsRange = 1...16

    /// Why these parameters cannot run, or nil.
    public var problem: String? {
        if !Self.appendersRange.contains(appenders) { return "appenders \(appenders) not in \(Self.appendersRange)" }
        if !(1...64).contains(outstandingPerAppenderMax) { return "outstanding records per appender \(outstandingPerAppenderMax) not in 1...64" }
        if !Self.recordsRange.contains(records) { return "records \(records) not in \(Self.recordsRange)" }
        if !Self.sessionsRange.contains(sessions) { return "sessions \(sessions) not in \(Self.sessionsRange)" }
        if payloadBytes.lowerBound < 8 || payloadBytes.upperBound > recordBytesMax {
            return "payload sizes \(payloadBytes) not within 8...\(recordBytesMax)"
        }
        if !(0...1).contains(multiPageShare) || !(0...1).contains(truncateProbability) || !(0...1).contains(positionProbability) || !(0...1).contains(blockingAppendShare) {
            return "probabilities are in 0...1"
        }
        if multiPageShare > 0 && recordBytesMax <= pageBytes - JournalFormat.fragmentHeaderBytes {
            return "multi-page records need recordBytesMax above a page's payload"
        }
        if !(1...64).contains(inFlightBatchesMax) { return "in-flight batches \(inFlightBatchesMax) not in 1...64" }
        if batchBytesMax < 4096 { return "batchBytesMax below 4096" }
        if !(1...8).contains(spareSegments) || !(0...8).contains(recycledSegmentsMax) { return "spare segments are in 1...8, recycled ones in 0...8" }
        if segmentBytes > 64 << 20 { return "segments above 64 MiB are too big to simulate" }
        if retainedSegmentsMax < 0 { return "retained segments must not be negative" }
        return nil
    }

    /// The journal's configuration.
    var configuration: JournalConfiguration {
        var c = JournalConfiguration()
        c.segmentBytes = segmentBytes
        c.pageBytes = pageBytes
        c.blockBytes = blockBytes
        c.recordBytesMax = recordBytesMax
        return c
    }

    public var description: String {
        var s = "\(appenders) appenders x \(records) records (\(payloadBytes.lowerBound)...\(payloadBytes.upperBound) B, \(Int(multiPageShare * 100))% multi-page)"
        s += ", \(sessions) session(s), segments \(segmentBytes / 1024) KiB, pages \(pageBytes), blocks \(blockBytes), \(inFlightBatchesMax) in flight"
        if blockingAppendShare > 0 { s += ", \(Int(blockingAppendShare * 100))% blocking appends" }
        if truncateProbability > 0 { s += ", truncation" }
        if positionProbability > 0 { s += ", reader positions" }
        if retainedSegmentsMax > 0 { s += " (bound \(retainedSegmentsMax) segments)" }
        s += ", faults \(profile.rawValue)"
        if !defects.isEmpty { s += ", defects \(defects.names.joined(separator: "+"))" }
        return s
    }

    // MARK: Presets

    /// A workload small enough to cut at every I/O boundary: a few records,
    /// tiny segments (rollover every few batches), a multi-page record now
    /// and then, truncation and recycling, two sessions.
    public static func small(records: Int = 10, profile: CrashFaultProfile = .none) -> JournalWorkloadParameters {
        var p = JournalWorkloadParameters()
        p.appenders = 3
        p.records = records
        p.payloadBytes = 8...900
        p.multiPageShare = 0.15
        p.sessions = 2
        p.truncateProbability = 0.05
        p.positionProbability = 0.04
        p.blockingAppendShare = 0.3
        p.profile = profile
        return p
    }

    /// A larger workload, cut at seeded random points.
    public static func large(profile: CrashFaultProfile = .none) -> JournalWorkloadParameters {
        var p = JournalWorkloadParameters()
        p.appenders = 8
        p.outstandingPerAppenderMax = 3
        p.records = 160
        p.payloadBytes = 8...2000
        p.multiPageShare = 0.08
        p.sessions = 3
        p.truncateProbability = 0.02
        p.positionProbability = 0.02
        // Small enough that a lagging position is overtaken now and then.
        p.retainedSegmentsMax = 3
        p.blockingAppendShare = 0.2
        p.inFlightBatchesMax = 4
        p.spareSegments = 2
        p.recycledSegmentsMax = 2
        p.profile = profile
        return p
    }
}

/// The faults a crash workload runs under.
public enum CrashFaultProfile: String, Sendable, CaseIterable {
    /// Writes in flight at a cut land whole, torn by sector or not at all;
    /// slow writes reorder completions.
    case none
    /// Also: a sector of a write in flight at a cut fills with random bytes.
    case garbage = "garbage-sectors"
    /// Also: queued writes fail with EIO; the journal poisons and is reopened.
    case writeErrors = "write-errors"
    /// Also: one bit of a segment's written region flips after the cut.
    case bitFlips = "bit-flips"
    /// Also: queued writes land elsewhere and report success.
    case misdirectedWrites = "misdirected-writes"

    /// Whether the profile damages data at rest (acknowledged bytes), which
    /// recovery must detect or, when it cannot tell, may cut.
    public var damagesDataAtRest: Bool { self == .bitFlips || self == .misdirectedWrites }

    /// The disk's faults under this profile.
    public var faults: SimulatedDisk.Faults {
        var f = SimulatedDisk.Faults()
        f.latencyProbability = 0.2
        f.latencyPollsMax = 4
        switch self {
        case .none, .bitFlips: break
        case .garbage: f.crashGarbageSectorProbability = 0.5
        case .writeErrors: f.writeErrorProbability = 0.04
        case .misdirectedWrites: f.misdirectedWriteProbability = 0.04
        }
        return f
    }
}

@_spi(Testing) extension JournalDefects {
    /// The CLI's names of the defects, in a fixed order.
    public static let named: [(String, JournalDefects)] = [
        ("acknowledge-before-durable", .acknowledgeBeforeDurable),
        ("skip-payload-checksums", .skipPayloadChecksums),
        ("rewrite-acknowledged-blocks", .rewriteAcknowledgedBlocks),
        ("truncate-ignoring-positions", .truncateIgnoringPositions),
    ]

    public var names: [String] { Self.named.filter { contains($0.1) }.map(\.0) }
}
