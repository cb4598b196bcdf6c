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
// rule of `lossIsIndistinguishable(firstLost:model:)`.

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

        /// The first LSN the log holds, or would hold next when empty.
        public var startLSN: LSN { payloads.isEmpty ? endLSN + 1 : firstLSN }
        public var description: String {
            payloads.isEmpty ? "empty log ending at LSN \(endLSN)" : "LSN \(firstLSN)...\(endLSN) (\(payloads.count) records)"
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
            if session > 1 {
                // The recovery of this open is checked like the explorer's own.
                if p.profile.damagesDataAtRest { model.headerless = Self.headerlessSegments(run.disk.durableImage()) }
                // Writes misdirected so far, as `damage` counts them before
                // the explorer's own recoveries (rule 3 of
                // `lossIsIndistinguishable`).
                model.misdirectedTotal = run.disk.misdirectedWriteCount
                let state = Self.readAll(journal)
                model.findings += check(state, model: model).map { CrashFinding($0.kind, "session \(session) open: " + $0.description) }
                model.adopt(lastLSN: journal.durableLSN)
                // A recovery that found the log's first segment torn and
                // empty resumes numbering after the LSNs its fragments used
                // (never reusing one): the LSNs below `oldestLSN` were never
                // acknowledged (the check above would have said so) and are
                // not part of the log from now on.
                model.keepFrom = max(model.keepFrom, journal.oldestLSN)
            }
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
    func drive(
        _ journal: Journal, session: Int, quota: Int, end: SessionEnd, run: CrashRun, model: inout Model,
        appenders: inout [Appender], random: inout SimulationRandom
    ) -> DriveOutcome {
        let p = parameters
        var enqueued = 0
        var lastEnqueued: LSN = journal.durableLSN
        var extraPumps = random.int(in: 0...3)
        let stepsMax = 2_000 + 400 * quota
        var steps = 0
        func observe() {
            let durable = journal.durableLSN
            model.acknowledge(through: durable, misdirected: run.disk.misdirectedWriteCount)
            for i in appenders.indices where !appenders[i].outstanding.isEmpty {
                appenders[i].outstanding.removeAll { $0 <= durable }
            }
        }
        while true {
            steps += 1
            if run.isPoweredOff { return .powerCut }
            if steps > stepsMax {
                return .failed("no progress after \(steps) steps: durable LSN \(journal.durableLSN), last enqueued \(lastEnqueued)")
            }
            let ready = appenders.indices.filter { appenders[$0].outstanding.count < p.outstandingPerAppenderMax }
            let canEnqueue = enqueued < quota && !ready.isEmpty
            if enqueued == quota {
                switch end {
                case .finish, .close:
                    if journal.durableLSN >= lastEnqueued { return .done }
                case .crash:
                    if extraPumps == 0 { return .done }
                    extraPumps -= 1
                }
            }
            do {
                if canEnqueue && random.below(100) < 55 {
                    let a = ready[random.below(ready.count)]
                    let lsn = journal.nextLSN
                    let payload = Self.payload(seed: run.seed, session: session, lsn: lsn, bytes: appenders[a].nextSize(p))
                    if p.blockingAppendShare > 0 && appenders[a].random.chance(p.blockingAppendShare) {
                        // Recorded before the call: a failure may come after
                        // the record is placed. The committedLSN is a lower
                        // bound (placing may pump first, for space): it can
                        // only let a loss pass as indistinguishable that an
                        // exact one would report, never the reverse.
                        model.appended(lsn, payload, committedLSN: journal.durableLSN)
                        let got = try journal.appendBlocking(payload)
                        if got != lsn { return .failed("appendBlocking returned LSN \(got), nextLSN said \(lsn)") }
                        if journal.durableLSN < lsn { return .failed("appendBlocking returned LSN \(lsn) before it was durable") }
                    } else {
                        let got = try journal.enqueue(payload)
                        if got != lsn { return .failed("enqueue returned LSN \(got), nextLSN said \(lsn)") }
                        model.appended(lsn, payload, committedLSN: journal.durableLSN)
                        appenders[a].outstanding.append(lsn)
                    }
                    enqueued += 1
                    lastEnqueued = lsn
                } else if p.truncateProbability > 0 && random.chance(p.truncateProbability) && journal.durableLSN > 0 {
                    let before = LSN(random.int(in: Int(journal.oldestLSN)...Int(journal.durableLSN + 1)))
                    model.keepFrom = max(model.keepFrom, before)
                    try journal.truncate(before: before)
                } else {
                    try journal.pump()
                }
            } catch {
                observe()
                if run.isPoweredOff { return .powerCut }
                if case .poisoned = error { return .poisoned }
                return .failed("unexpected error: \(error)")
            }
            observe()
        }
    }

    // MARK: Damage

    /// Under the bit-flip profile, flips one bit in the written region (up
    /// to the last non-zero byte) of one segment file.
    public func damage(_ disk: SimulatedDisk, seed: UInt64, model: inout Model) {
        model.misdirectedTotal = disk.misdirectedWriteCount
        defer {
            if parameters.profile.damagesDataAtRest { model.headerless = Self.headerlessSegments(disk.durableImage()) }
        }
        guard parameters.profile == .bitFlips else { return }
        let image = disk.durableImage()
        var extents: [(String, Int)] = []
        for name in image.keys.sorted() where JournalFormat.segmentIndex(fileName: name) != nil {
            guard let bytes = image[name], let lastNonZero = bytes.lastIndex(where: { $0 != 0 }) else { continue }
            extents.append((name, lastNonZero + 1))
        }
        let total = extents.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return }
        var random = SimulationRandom(seed: seed, stream: 0xF11B)
        var position = random.below(total)
        let bit = random.below(8)
        for (name, extent) in extents {
            if position < extent {
                disk.flipBit(file: name, offset: position, bit: bit)
                model.damage = "bit \(bit) of \(name)@\(position) flipped"
                return
            }
            position -= extent
        }
    }

    /// Segment files whose header is not a valid one (bad magic or
    /// checksum: damaged, or never written because the first batch went
    /// astray) although bytes past the header were written: recovery
    /// ignores such a file whole. Named in loss findings, to tell the known
    /// journal issue apart (see the tests).
    static func headerlessSegments(_ image: [String: [UInt8]]) -> [String] {
        let headerBytes = JournalFormat.segmentHeaderBytes
        let crcOffset = 124
        var names: [String] = []
        for name in image.keys.sorted() where JournalFormat.segmentIndex(fileName: name) != nil {
            guard let bytes = image[name], bytes.count > headerBytes else { continue }
            guard bytes[headerBytes...].contains(where: { $0 != 0 }) else { continue }
            let magic = Array("SWJNLSEG".utf8)
            let stored = UInt32(bytes[crcOffset]) | UInt32(bytes[crcOffset + 1]) << 8 | UInt32(bytes[crcOffset + 2]) << 16 | UInt32(bytes[crcOffset + 3]) << 24
            let valid = bytes[0..<8].elementsEqual(magic) && CRC32C.checksum(Array(bytes[0..<crcOffset])) == stored
            if !valid { names.append(name) }
        }
        return names
    }

    // MARK: Recovering

    /// Reads every record of an open journal.
    static func readAll(_ journal: Journal) -> RecoveryAttempt<State> {
        do {
            var first: LSN = 0
            var payloads: [[UInt8]] = []
            var expected = journal.oldestLSN
            var gap: String?
            try journal.forEachRecord(from: journal.oldestLSN) { lsn, bytes in
                if payloads.isEmpty { first = lsn } else if lsn != expected {
                    gap = "LSN \(lsn) follows \(expected - 1)"
                    return false
                }
                payloads.append(Array(bytes))
                expected = lsn + 1
                return true
            }
            if let gap { return .refused(kind: "gap", message: "the log is not consecutive: \(gap)") }
            let end = journal.durableLSN
            if !payloads.isEmpty && first + LSN(payloads.count) - 1 != end {
                return .refused(kind: "short", message: "records end at \(first + LSN(payloads.count) - 1), the durable LSN is \(end)")
            }
            return .recovered(State(firstLSN: first, payloads: payloads, endLSN: end))
        } catch {
            return refusal(error)
        }
    }

    static func refusal(_ error: any Error) -> RecoveryAttempt<State> {
        guard let e = error as? JournalError else { return .refused(kind: "error", message: "\(error)") }
        switch e {
        case .corruption: return .refused(kind: "corruption", message: e.description)
        case .notAJournal: return .refused(kind: "not-a-journal", message: e.description)
        case .io(let s), .poisoned(let s):
            if SimulatedDisk.isPowerCut(s) { return .interrupted }
            return .refused(kind: "io", message: e.description)
        default: return .refused(kind: "error", message: e.description)
        }
    }

    /// A reader's recovery (writes nothing), then the writer's: open,
    /// prepare spares (renames, creates), read everything, close. The two
    /// must agree. The writer keeps one more spare segment than the
    /// workload did, so that every recovery prepares one: a rename or a
    /// create the explorer can cut.
    public func recover(_ storage: SimulatedStorage) -> RecoveryAttempt<State> {
        let reader: RecoveryAttempt<State>
        do {
            reader = Self.readAll(try Journal.openForReading(storage: storage))
        } catch {
            reader = Self.refusal(error)
        }
        let writer: Journal
        do {
            var o = options()
            o.spareSegments = parameters.spareSegments + 1
            writer = try Journal.open(storage: storage, options: o)
        } catch {
            let r = Self.refusal(error)
            if storage.disk.isPoweredOff { return .interrupted }
            if case .refused(let kind, _) = r, case .refused(let readerKind, _) = reader, kind != readerKind {
                return .refused(kind: "disagreement", message: "the reader's recovery gave \(reader.summary), the writer's \(r.summary)")
            }
            return r
        }
        defer { writer.close() }
        do {
            for _ in 0...(parameters.spareSegments + 1) { try writer.pump() }
        } catch {
            if storage.disk.isPoweredOff { return .interrupted }
            return .refused(kind: "error", message: "the writer failed after recovery: \(error)")
        }
        let state = Self.readAll(writer)
        if storage.disk.isPoweredOff { return .interrupted }
        if !state.sameResult(as: reader), case .recovered(var s) = state {
            // The writer's records are still checked.
            s.readerDisagreement = "the reader's recovery gave \(reader.summary), the writer's \(s)"
            return .recovered(s)
        }
        if !state.sameResult(as: reader) {
            return .refused(kind: "disagreement", message: "the reader's recovery gave \(reader.summary), the writer's \(state.summary)")
        }
        return state
    }

    // MARK: Checking

    public func findings(of model: Model) -> [CrashFinding] { model.findings }

    public func check(_ attempt: RecoveryAttempt<State>, model: Model) -> [CrashFinding] {
        let damage = model.damage.map { " (\($0))" } ?? ""
        switch attempt {
        case .interrupted:
            return []
        case .refused(let kind, let message):
            if !model.created && kind == "not-a-journal" { return [] }
            if parameters.profile.damagesDataAtRest && (kind == "corruption" || kind == "not-a-journal") {
                return [CrashFinding(.detected, message + damage)]
            }
            return [CrashFinding(.violation, "recovery refused (\(kind)): \(message)\(damage)")]
        case .recovered(let state):
            if !model.created { return [CrashFinding(.violation, "a journal recovered though its creation never finished")] }
            return checkRecords(state, model: model, damage: damage)
        }
    }

    func checkRecords(_ state: State, model: Model, damage: String) -> [CrashFinding] {
        let damage = damage + (model.headerless.isEmpty ? "" : " [segments without a valid header holding data: \(model.headerless.joined(separator: ", "))]")
        var findings: [CrashFinding] = []
        if let d = state.readerDisagreement { findings.append(CrashFinding(.violation, "recoveries disagree: \(d)\(damage)")) }
        // 1. Every record returned was appended, byte for byte.
        for (i, bytes) in state.payloads.enumerated() {
            let lsn = state.firstLSN + LSN(i)
            guard lsn >= 1, lsn <= LSN(model.payloads.count) else {
                findings.append(CrashFinding(.violation, "record \(lsn) (\(bytes.count) bytes) was never appended (\(model.payloads.count) were)\(damage)"))
                break
            }
            let expected = model.payloads[Int(lsn) - 1]
            if bytes != expected {
                let at = (0..<min(bytes.count, expected.count)).first { bytes[$0] != expected[$0] } ?? min(bytes.count, expected.count)
                findings.append(CrashFinding(.violation, "record \(lsn) differs from what was appended: \(bytes.count) bytes returned, \(expected.count) appended, first difference at byte \(at)\(damage)"))
                if findings.count >= 3 { break }
            }
        }
        // 3. Every acknowledged record from keepFrom on is present.
        let needFrom = model.keepFrom
        let needTo = model.acknowledgedLSN
        guard needTo >= needFrom else { return findings }
        if state.startLSN > needFrom {
            findings.append(CrashFinding(.violation, "acknowledged records \(needFrom)...\(min(needTo, state.startLSN - 1)) are missing at the head of the log (\(state))\(damage)"))
        }
        if state.endLSN < needTo {
            let firstLost = max(state.endLSN + 1, needFrom)
            let what = "acknowledged records \(firstLost)...\(needTo) lost at the end of the log (\(state))\(damage)"
            if state.startLSN <= needFrom && lossIsIndistinguishable(firstLost: firstLost, model: model) {
                findings.append(CrashFinding(.tolerated, what))
            } else {
                findings.append(CrashFinding(.violation, what))
            }
        }
        return findings
    }

    /// Whether losing the acknowledged records from `firstLost` on is a cut
    /// recovery cannot tell from a torn write (journal-format.md section 7,
    /// "What recovery cannot tell apart"). Exactly when:
    ///
    /// 1. the fault profile damages data at rest (bit flips, misdirected
    ///    writes). Without such damage no write ever touches an acknowledged
    ///    block (section 6), so every loss is a violation; a torn write or a
    ///    garbage sector only hits writes in flight, never acknowledged;
    /// 2. and no acknowledged record carries committedLSN >= `firstLost`.
    ///    Such a record was encoded after `firstLost` was durable, and its
    ///    write completed, so it lies on disk as proof that `firstLost` had
    ///    been acknowledged: recovery must report corruption, not cut.
    ///    Records encoded before (their batches in flight together with the
    ///    damaged one) prove nothing: that is the write window of section 7;
    ///    unacknowledged records may never have reached the disk;
    /// 3. or, under misdirected writes only, a write was misdirected after
    ///    `firstLost` was acknowledged: the proof itself may have landed
    ///    elsewhere or been overwritten.
    ///
    /// A single bit flip damages one fragment, so it cannot both hit
    /// `firstLost` and erase the proof: rule 2 is exact for it.
    func lossIsIndistinguishable(firstLost: LSN, model: Model) -> Bool {
        guard parameters.profile.damagesDataAtRest else { return false }
        let acknowledged = Int(model.acknowledgedLSN)
        guard firstLost >= 1, Int(firstLost) <= acknowledged else { return false }
        let proof = (Int(firstLost)..<acknowledged).contains { model.committed[$0] >= firstLost }
        if !proof { return true }
        return parameters.profile == .misdirectedWrites && model.misdirectedTotal > model.misdirectedAtAck[Int(firstLost) - 1]
    }
}

extension RecoveryAttempt {
    /// One line for messages.
    public var summary: String {
        switch self {
        case .recovered(let s): "\(s)"
        case .refused(let kind, let message): "refusal (\(kind)): \(message)"
        case .interrupted: "interrupted by a power cut"
        }
    }
}
