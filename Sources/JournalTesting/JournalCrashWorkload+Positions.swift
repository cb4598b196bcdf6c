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
//    held it back (the workload's bound, `retainedBytesMax`, is never
//    reached). A position's value after a cut is at most what was attempted,
//    and truncations only ever saw values at or below the current one.

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
        return findings
    }
}
