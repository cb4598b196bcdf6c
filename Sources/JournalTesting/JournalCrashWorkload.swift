@_spi(Testing) public import Journal
import JournalPrimitives
import JournalStorage
import Logging

// The journal's crash workload: N logical appenders on one thread, segment
// rollover, truncation and recycling, several writer sessions, under a
// fault profile.
//
// The model. For every LSN the run appended, the payload of its latest
// append and the committedLSN it was encoded with (the durable LSN at
// encoding: in manual runtime it changes only inside `pump`, so it is
// `durableLSN` read right after `enqueue` returns). Payloads are drawn from
// (seed, session, LSN): a record cut by a recovery and appended again in a
// later session gets other bytes, so a resurrected stale record is caught.
// The acknowledged LSN is the highest `durableLSN` the appenders saw (after
// a reopen, what recovery kept counts as acknowledged: later sessions build
// on it). `keepFrom` is the highest LSN a truncation was asked to keep from.
//
// The checks of a recovery (`check`):
// 1. every record returned was appended, at its LSN, byte for byte (no
//    record that was never appended, no corrupt or stale record);
// 2. the records form one run of consecutive LSNs (a prefix of the appended
//    sequence above what truncation released; records complete on disk but
//    never acknowledged may survive);
// 3. every acknowledged record from `keepFrom` on is present;
// 4. recovery does not refuse, unless the fault profile damages data at
//    rest (then a refusal for corruption is detection, counted), or the
//    journal's creation never finished (no journal: nothing was promised).
// A loss under 3 is tolerated, counted and not a violation, only under the
// rule of `lossIsIndistinguishable(firstLost:model:)`. Checks 5 to 7, of
// named reader positions, are in `JournalCrashWorkload+Positions.swift`.

/// A crash workload over the journal alone. See the comment at the top of
/// this file for the model and the checks.
public struct JournalCrashWorkload: CrashWorkload {
    public let parameters: JournalWorkloadParameters

    public init(_ parameters: JournalWorkloadParameters) {
        precondition(parameters.problem == nil, parameters.problem ?? "")
        self.parameters = parameters
    }

    public var name: String { "journal" }
    public var faults: SimulatedDisk.Faults { parameters.profile.faults }

    /// The state a recovery finds: the records of the log, oldest first.
    public struct State: Equatable, Sendable, CustomStringConvertible {
        /// LSN of the first record (0: the log is empty).
        public var firstLSN: LSN
        public var payloads: [[UInt8]]
        /// The last LSN of the log as recovery ended it (the durable LSN
        /// after the open); for an empty log, the LSN before the next one.
        public var endLSN: LSN
        /// How a reader's recovery (`openForReading`) of the same bytes
        /// differed from the writer's, if it did: a violation.
        public var readerDisagreement: String?
        /// The named reader positions, by name.
        public var positions: [String: LSN] = [:]
        /// The positions a follower resuming them found overtaken
        /// (`readerFellBehind`).
        public var overtaken: Set<String> = []
        /// What went wrong reading from a position, if anything: a gap, a
        /// wrong record, another error than `readerFellBehind`.
        public var positionReadFailures: [String] = []

        /// The first LSN the log holds, or would hold next when empty.
        public var startLSN: LSN { payloads.isEmpty ? endLSN + 1 : firstLSN }
        public var description: String {
            payloads.isEmpty ? "empty log ending at LSN \(endLSN)" : "LSN \(firstLSN)...\(endLSN) (\(payloads.count) records)"
        }

        /// Every field equal; the payloads compared with `memcmp` (the
        /// derived `==` goes byte by byte in a debug build, and the explorer
        /// compares two recoveries at every crash point). A new field must
        /// be added here.
        public static func == (a: State, b: State) -> Bool {
            a.firstLSN == b.firstLSN && a.endLSN == b.endLSN && a.readerDisagreement == b.readerDisagreement
                && a.positions == b.positions && a.overtaken == b.overtaken
                && a.positionReadFailures == b.positionReadFailures && Bytes.equal(a.payloads, b.payloads)
        }
    }

    /// What the workload was told.
    public struct Model: Sendable {
        /// `Journal.create` returned.
        public var created = false
        /// `payloads[lsn - 1]`: the bytes of the latest append of `lsn`.
        public var payloads: [[UInt8]] = []
        /// `committed[lsn - 1]`: the committedLSN `lsn` was encoded with.
        var committed: [LSN] = []
        /// `misdirectedAtAck[lsn - 1]`: writes misdirected before `lsn` was
        /// acknowledged.
        var misdirectedAtAck: [Int] = []
        /// Writes misdirected over the whole run.
        var misdirectedTotal = 0
        public var acknowledgedLSN: LSN = 0
        /// Records below this may be gone (truncation asked for it).
        public var keepFrom: LSN = 1
        public var sessions = 0
        public var poisonings = 0
        /// What `damage` did, for reports.
        public var damage: String?
        /// Segment files without a valid header that hold data, after the
        /// damage (profiles that damage data at rest only).
        public var headerless: [String] = []
        /// Findings of recoveries inside the run.
        public var findings: [CrashFinding] = []
        /// Per named reader position: the highest LSN a create or advance
        /// returned for, and the highest one attempted
        /// (`JournalCrashWorkload+Positions.swift`).
        public var positionsReturned: [String: LSN] = [:]
        public var positionsAttempted: [String: LSN] = [:]
        /// Positions that kept more than the bound at some step (with two
        /// segments of slack): truncation may have overtaken them.
        public var positionsOvertakable: Set<String> = []
        /// Times the journal's oldest LSN went past a position's lowest
        /// possible value during the run: positions overtaken.
        public var overtakings = 0
        var positionsOvertaken: Set<String> = []

        mutating func appended(_ lsn: LSN, _ payload: [UInt8], committedLSN: LSN) {
            precondition(lsn == LSN(payloads.count) + 1, "LSNs are assigned in order")
            payloads.append(payload)
            committed.append(committedLSN)
            misdirectedAtAck.append(0)
        }

        /// Raises the acknowledged LSN to `durable`.
        mutating func acknowledge(through durable: LSN, misdirected: Int) {
            guard durable > acknowledgedLSN else { return }
            let top = min(durable, LSN(payloads.count))
            if top > acknowledgedLSN {
                for lsn in (acknowledgedLSN + 1)...top { misdirectedAtAck[Int(lsn) - 1] = misdirected }
            }
            acknowledgedLSN = max(acknowledgedLSN, top)
        }

        /// After a recovery inside the run kept the log up to `lastLSN`:
        /// later LSNs will be appended again.
        mutating func adopt(lastLSN: LSN) {
            let keep = min(Int(lastLSN), payloads.count)
            payloads.removeLast(payloads.count - keep)
            committed.removeLast(committed.count - keep)
            misdirectedAtAck.removeLast(misdirectedAtAck.count - keep)
            acknowledgedLSN = min(acknowledgedLSN, LSN(keep))
        }
    }

    // MARK: Running

    /// One logical appender: its size stream and its records not yet durable.
    struct Appender {
        var random: SimulationRandom
        var outstanding: [LSN] = []

        mutating func nextSize(_ p: JournalWorkloadParameters) -> Int {
            if p.multiPageShare > 0 && random.chance(p.multiPageShare) {
                return random.int(in: (p.pageBytes - JournalFormat.fragmentHeaderBytes + 1)...p.recordBytesMax)
            }
            return random.int(in: p.payloadBytes)
        }
    }

    enum SessionEnd { case close, crash, finish }
    enum DriveOutcome { case done, powerCut, poisoned, failed(String) }

    /// The payload of `lsn` appended in `session`: unique per (seed, session, LSN).
    public static func payload(seed: UInt64, session: Int, lsn: LSN, bytes: Int) -> [UInt8] {
        var random = SimulationRandom(seed: seed, stream: 0x5041_594C_0000_0000 ^ UInt64(session) << 40 ^ lsn)
        var out = [UInt8](repeating: 0, count: bytes)
        out.withUnsafeMutableBytes { random.fill($0) }
        return out
    }

    func options() -> JournalOptions {
        var o = JournalOptions()
        o.runtime = .manual
        o.inFlightBatchesMax = parameters.inFlightBatchesMax
        o.batchBytesMax = parameters.batchBytesMax
        // Both ways of filling a batch: under the lock and after it.
        o.copyOutsideLockBytes = 256
        o.spareSegments = parameters.spareSegments
        o.recycledSegmentsMax = parameters.recycledSegmentsMax
        o.testingDefects = parameters.defects
        o.retainedBytesMax = parameters.retainedSegmentsMax > 0 ? parameters.retainedSegmentsMax * parameters.segmentBytes : .max
        o.logger = Logger(label: "crash-explorer") { _ in SwiftLogNoOpLogHandler() }
        o.metricsPrefix = "crash-explorer"
        return o
    }

    public func run(_ run: CrashRun) -> Model {
        let p = parameters
        var model = Model()
        var random = SimulationRandom(seed: run.seed, stream: 0x574F_524B)
        var storage = run.disk.storage()
        do {
            try Journal.create(storage: storage, configuration: p.configuration, journalID: 0x4A4E_4C00 ^ run.seed)
        } catch {
            if !run.isPoweredOff { model.findings.append(CrashFinding(.violation, "create failed: \(error)")) }
            return model
        }
        model.created = true
        var appenders = (0..<p.appenders).map { Appender(random: SimulationRandom(seed: run.seed, stream: 0x4150_0000 + UInt64($0))) }
        var remaining = p.records
        var plannedDone = 0
        let poisoningsMax = 32
        while true {
            model.sessions += 1
            let session = model.sessions
            let journal: Journal
            do {
                journal = try Journal.open(storage: storage, options: options())
            } catch {
                if !run.isPoweredOff { model.findings.append(CrashFinding(.violation, "open of session \(session) failed: \(error)")) }
                return model
            }
            if session > 1 { checkReopen(journal, session: session, run: run, model: &model) }
            model.acknowledge(through: journal.durableLSN, misdirected: run.disk.misdirectedWriteCount)
            for i in appenders.indices { appenders[i].outstanding = [] }
            let last = plannedDone + 1 >= p.sessions
            let quota = last ? remaining : random.int(in: 0...remaining)
            let end: SessionEnd = last ? .finish : (random.chance(0.5) ? .close : .crash)
            let outcome = drive(journal, session: session, quota: quota, end: end, run: run, model: &model,
                                appenders: &appenders, random: &random)
            switch outcome {
            case .powerCut:
                return model
            case .failed(let why):
                model.findings.append(CrashFinding(.violation, "session \(session): \(why)"))
                return model
            case .poisoned:
                // Reopened in the same boot, as an operator would.
                model.poisonings += 1
                remaining = max(0, p.records - model.payloads.count)
                journal.close()
                if run.isPoweredOff || model.poisonings >= poisoningsMax { return model }
                continue
            case .done:
                remaining = max(0, p.records - model.payloads.count)
                plannedDone += 1
                switch end {
                case .close, .finish:
                    journal.close()
                    model.acknowledge(through: journal.durableLSN, misdirected: run.disk.misdirectedWriteCount)
                    if run.isPoweredOff || end == .finish { return model }
                case .crash:
                    if run.isPoweredOff { return model }
                    // The power goes while the journal is open; it is dropped after.
                    withExtendedLifetime(journal) { storage = run.crashAndReboot() }
                }
            }
        }
    }

    /// Interleaves the appenders' enqueues, pumps and truncations until
    /// `quota` records are enqueued and the session's end is reached.

    /// A session after the first: the recovery of its open is checked like
    /// the explorer's own, and the model takes over what recovery kept.
    private func checkReopen(_ journal: Journal, session: Int, run: CrashRun, model: inout Model) {
        if parameters.profile.damagesDataAtRest { model.headerless = Self.headerlessSegments(run.disk) }
        // Writes misdirected so far, as `damage` counts them before the
        // explorer's own recoveries (rule 3 of `lossIsIndistinguishable`).
        model.misdirectedTotal = run.disk.misdirectedWriteCount
        let state = Self.readAll(journal)
        model.findings += check(state, model: model).map { CrashFinding($0.kind, "session \(session) open: " + $0.description) }
        model.adopt(lastLSN: journal.durableLSN)
        // A recovery that found the log's first segment torn and empty
        // resumes numbering after the LSNs its fragments used (never reusing
        // one): the LSNs below `oldestLSN` were never acknowledged (the
        // check above would have said so) and are not part of the log from
        // now on.
        model.keepFrom = max(model.keepFrom, journal.oldestLSN)
    }
}
