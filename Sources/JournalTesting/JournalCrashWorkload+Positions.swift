@_spi(Testing) import Journal
import JournalPrimitives

// Named reader positions in the journal's crash workload: a few positions
// are created and advanced at random between appends and truncations, and
// every recovery checks them.
//
// The model, per position: the highest LSN a create or advance *returned*
// for (durable then) and the highest one *attempted* (a call a power cut may
// have interrupted). The checks:
// 5. a position that a create returned for exists after every cut, at an
//    LSN from its returned one through its attempted one: it never goes
//    back past what was durably advanced, and never holds an LSN nobody
//    asked for; no position exists that no create attempted;
// 6. (in check 3) every acknowledged record at or above the lowest
//    position recovered is present, whatever truncation asked: a position
//    held it back. A position's value after a cut is at most what was
//    attempted, and truncations only ever saw values at or below the
//    current one. Exempt: a position the model saw keep more than the
//    workload's bound (`retainedSegmentsMax`, with two segments of slack
//    for the segments one step may activate): truncation may overtake it;
// 7. a follower resuming each recovered position (not above the recovered
//    log's next LSN: damage may have cut it short) reads, from its LSN,
//    consecutive records equal to those appended, through the durable LSN,
//    or fails at once with `readerFellBehind`, only for a position the
//    model saw past the bound: never a record after a gap.
// During the run, each time the oldest LSN passes the highest value a
// position may hold it counts as an overtaking, and must be one of those.

extension JournalCrashWorkload {
    static let positionNames = ["p0", "p1", "p2"]

    /// Creates or advances one of the positions, at random. Returns a
    /// failure if the journal broke its contract.
    func movePosition(_ journal: Journal, model: inout Model, random: inout SimulationRandom) throws(JournalError) -> DriveOutcome? {
        let name = Self.positionNames[random.below(Self.positionNames.count)]
        let present = try journal.namedPositions().first { $0.name == name }
        let top = Int(journal.durableLSN + 1)
        guard let present else {
            if model.positionsReturned[name] != nil { return .failed("position \(name) vanished: it was created") }
            let lsn = LSN(random.int(in: Int(journal.oldestLSN)...max(Int(journal.oldestLSN), top)))
            model.positionsAttempted[name] = max(model.positionsAttempted[name] ?? 0, lsn)
            _ = try journal.createPosition(named: name, at: lsn)
            model.positionsReturned[name] = lsn
            return nil
        }
        let lsn = LSN(random.int(in: Int(present.lsn)...max(Int(present.lsn), top)))
        model.positionsAttempted[name] = max(model.positionsAttempted[name] ?? 0, lsn)
        try journal.position(named: name).advance(to: lsn)
        model.positionsReturned[name] = max(model.positionsReturned[name] ?? 0, lsn)
        return nil
    }

    /// Marks the positions that keep more than the bound now, and counts
    /// (and checks) those truncation went past. Per step.
    func observePositions(_ journal: Journal, model: inout Model) {
        let bound = parameters.retainedSegmentsMax
        guard bound > 0, !model.positionsReturned.isEmpty else { return }
        let segments = journal.segmentSummaries
        let oldest = journal.oldestLSN
        for (name, lsn) in model.positionsReturned.sorted(by: { $0.key < $1.key }) {
            // Its file holds at most the LSN last attempted.
            let highest = model.positionsAttempted[name] ?? lsn
            if oldest > highest && !model.positionsOvertaken.contains(name) {
                model.positionsOvertaken.insert(name)
                model.overtakings += 1
                if !model.positionsOvertakable.contains(name) {
                    model.findings.append(CrashFinding(.violation, "truncation went past position \(name) at \(highest) or below (oldest \(oldest)), which never kept more than \(bound) segments"))
                }
            }
            // Its file holds at least the LSN last returned: the most it keeps.
            let holding = segments.lastIndex { $0.baseLSN <= lsn } ?? 0
            if segments.count - holding + 2 > bound { model.positionsOvertakable.insert(name) }
        }
    }

    /// Check 7 of the header, on a recovered journal: a follower from each
    /// position reads consecutive records or fails with `readerFellBehind`.
    static func readPositions(_ journal: Journal, into state: inout State) {
        for name in state.positions.keys.sorted() {
            do {
                let position = try journal.position(named: name)
                defer { position.release() }
                // Above the recovered log (damage cut acknowledged records,
                // which check 3 judges): nothing to read from it.
                if position.lsn > journal.nextLSN { continue }
                let follower: JournalFollower
                do { follower = try journal.follower(resuming: position) } catch {
                    guard case .readerFellBehind = error else { throw error }
                    state.overtaken.insert(name)
                    continue
                }
                defer { follower.cancel() }
                var expected = position.lsn
                while follower.nextLSN <= journal.durableLSN, let record = try follower.nextBlocking() {
                    guard record.lsn == expected else {
                        state.positionReadFailures.append("a follower of position \(name) read LSN \(record.lsn) after \(expected - 1)")
                        break
                    }
                    let i = Int(record.lsn - state.firstLSN)
                    if i < 0 || i >= state.payloads.count || !Bytes.equal(state.payloads[i], record.payload) {
                        state.positionReadFailures.append("a follower of position \(name) read LSN \(record.lsn) unlike the log's record")
                        break
                    }
                    expected += 1
                }
            } catch {
                state.positionReadFailures.append("reading from position \(name): \(error)")
            }
        }
    }

    /// Check 5 of the header: the positions a recovery found against the model.
    func checkPositions(_ state: State, model: Model) -> [CrashFinding] {
        var findings: [CrashFinding] = []
        for (name, lsn) in state.positions.sorted(by: { $0.key < $1.key }) {
            guard let attempted = model.positionsAttempted[name] else {
                findings.append(CrashFinding(.violation, "position \(name) at \(lsn) exists, yet no create was attempted"))
                continue
            }
            if lsn > attempted { findings.append(CrashFinding(.violation, "position \(name) at \(lsn), above the highest LSN attempted, \(attempted)")) }
        }
        for (name, returned) in model.positionsReturned.sorted(by: { $0.key < $1.key }) {
            guard let lsn = state.positions[name] else {
                findings.append(CrashFinding(.violation, "position \(name), created durably at or past \(returned), is gone"))
                continue
            }
            if lsn < returned {
                findings.append(CrashFinding(.violation, "position \(name) went back to \(lsn) from \(returned), durably advanced"))
            }
        }
        for name in state.overtaken.sorted() where !model.positionsOvertakable.contains(name) {
            findings.append(CrashFinding(.violation, "a follower of position \(name) fell behind, yet it never kept more than the bound"))
        }
        findings += state.positionReadFailures.map { CrashFinding(.violation, $0) }
        return findings
    }
}
