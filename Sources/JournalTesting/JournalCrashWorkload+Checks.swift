import JournalPrimitives
@_spi(Testing) import Journal
import JournalStorage
import Logging

// Damage, recovery and the checks of the journal's crash workload (see the
// header of JournalCrashWorkload.swift for what they check).

extension JournalCrashWorkload {
    // MARK: Damage

    /// Under the bit-flip profile, flips one bit in the written region (up
    /// to the last non-zero byte) of one segment file.
    public func damage(_ disk: SimulatedDisk, seed: UInt64, model: inout Model) {
        model.misdirectedTotal = disk.misdirectedWriteCount
        defer {
            if parameters.profile.damagesDataAtRest { model.headerless = Self.headerlessSegments(disk) }
        }
        guard parameters.profile == .bitFlips else { return }
        model.damage = disk.flipWrittenBit(seed: seed) { JournalFormat.segmentIndex(fileName: $0) != nil }.map { "\($0) flipped" }
    }

    /// Segment files whose header is not a valid one (bad magic or
    /// checksum: damaged, or never written because the first batch went
    /// astray) although bytes past the header were written: recovery
    /// ignores such a file whole. Named in loss findings, to tell the known
    /// journal issue apart (see the tests).
    static func headerlessSegments(_ disk: SimulatedDisk) -> [String] {
        let headerBytes = JournalFormat.segmentHeaderBytes
        let crcOffset = 124
        let magic: [UInt8] = Array("SWJNLSEG".utf8)
        var names: [String] = []
        // The durable images scanned in place (as `durableImage()` has them).
        disk.forEachDurableFile { name, bytes in
            guard JournalFormat.segmentIndex(fileName: name) != nil, bytes.count > headerBytes else { return }
            guard Bytes.lastNonZero(UnsafeRawBufferPointer(rebasing: bytes[headerBytes...])) != nil else { return }
            let stored = UInt32(bytes[crcOffset]) | UInt32(bytes[crcOffset + 1]) << 8 | UInt32(bytes[crcOffset + 2]) << 16 | UInt32(bytes[crcOffset + 3]) << 24
            let valid = magic.withUnsafeBytes { Bytes.equal(UnsafeRawBufferPointer(rebasing: bytes[0..<8]), $0) }
                && CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<crcOffset])) == stored
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
                payloads.append(Bytes.array(bytes))
                expected = lsn + 1
                return true
            }
            if let gap { return .refused(kind: "gap", message: "the log is not consecutive: \(gap)") }
            let end = journal.durableLSN
            if !payloads.isEmpty && first + LSN(payloads.count) - 1 != end {
                return .refused(kind: "short", message: "records end at \(first + LSN(payloads.count) - 1), the durable LSN is \(end)")
            }
            var state = State(firstLSN: first, payloads: payloads, endLSN: end)
            state.positions = Dictionary(uniqueKeysWithValues: try journal.namedPositions().map { ($0.name, $0.lsn) })
            readPositions(journal, into: &state)
            return .recovered(state)
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
            if !Bytes.equal(bytes, expected) {
                let at = (0..<min(bytes.count, expected.count)).first { bytes[$0] != expected[$0] } ?? min(bytes.count, expected.count)
                findings.append(CrashFinding(.violation, "record \(lsn) differs from what was appended: \(bytes.count) bytes returned, \(expected.count) appended, first difference at byte \(at)\(damage)"))
                if findings.count >= 3 { break }
            }
        }
        findings += checkPositions(state, model: model)
        // 3. Every acknowledged record from keepFrom on is present, and (6)
        // from the lowest reader position on.
        let held = state.positions.filter { !model.positionsOvertakable.contains($0.key) }
        let needFrom = min(model.keepFrom, held.values.min() ?? .max)
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
