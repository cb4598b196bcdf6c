// The power-cut explorer.
//
// For one seed it runs a workload once without a cut (the dry run) to count
// its I/O boundaries, then, for each chosen boundary k (every one, for a
// small workload; seeded random ones for a large), runs it again on a fresh
// disk cut right after k:
//
//   run (cut at k) -> damage (bit flips, by profile) -> snapshot
//     -> reboot, recover, check against the model               (point k)
//     -> for each boundary j of that recovery (the writer's open renames
//        and creates spares): on a copy of the snapshot, recover cut after
//        j, reboot, recover again: same result as the first?     (point k/j)
//
// Everything is deterministic from the seed: `explore(seed:cut:)` reruns
// one point, and a violation names the seed and the cut (and the recovery
// cut) that reproduce it.

/// Where a crash happened: the seed of the run, the boundary the workload
/// was cut after, and the boundary of the recovery cut after, if any.
public struct CrashPoint: Sendable, Equatable, CustomStringConvertible {
    public var seed: UInt64
    public var cut: Int
    public var recoveryCut: Int?

    public init(seed: UInt64, cut: Int, recoveryCut: Int? = nil) {
        self.seed = seed
        self.cut = cut
        self.recoveryCut = recoveryCut
    }

    public var description: String {
        "seed \(seed) cut \(cut)" + (recoveryCut.map { " recovery-cut \($0)" } ?? "")
    }
}

/// A violation and where to reproduce it.
public struct CrashViolation: Sendable, Equatable, CustomStringConvertible {
    public var workload: String
    public var point: CrashPoint
    public var description: String

    public init(workload: String, point: CrashPoint, description: String) {
        self.workload = workload
        self.point = point
        self.description = description
    }
}

/// What an exploration found.
public struct CrashReport: Sendable, Equatable {
    /// Runs cut during the workload (each recovered and checked).
    public var workloadCuts = 0
    /// Recoveries cut at one of their boundaries, then recovered again.
    public var recoveryCuts = 0
    /// Dry runs (one per seed and workload).
    public var runs = 0
    public var violations: [CrashViolation] = []
    /// Violations beyond those kept in `violations`.
    public var violationsDropped = 0
    /// Injected damage that recovery refused as corruption.
    public var detected = 0
    /// Acknowledged records lost to damage recovery cannot tell from a torn
    /// write (see `JournalCrashWorkload.lossIsIndistinguishable`).
    public var tolerated = 0
    public var elapsedSeconds = 0.0

    public static let violationsKeptMax = 50

    public init() {}

    /// Crash points explored: cuts during workloads and during recoveries.
    public var crashPoints: Int { workloadCuts + recoveryCuts }
    public var violationCount: Int { violations.count + violationsDropped }

    public mutating func add(_ other: CrashReport) {
        workloadCuts += other.workloadCuts
        recoveryCuts += other.recoveryCuts
        runs += other.runs
        detected += other.detected
        tolerated += other.tolerated
        elapsedSeconds += other.elapsedSeconds
        for v in other.violations { record(v) }
        violationsDropped += other.violationsDropped
    }

    mutating func record(_ violation: CrashViolation) {
        if violations.count < Self.violationsKeptMax { violations.append(violation) } else { violationsDropped += 1 }
    }

    mutating func count(_ findings: [CrashFinding], workload: String, at point: CrashPoint) {
        for f in findings {
            switch f.kind {
            case .violation: record(CrashViolation(workload: workload, point: point, description: f.description))
            case .detected: detected += 1
            case .tolerated: tolerated += 1
            }
        }
    }

    public var summary: String {
        counts + ", \(Double(Int(elapsedSeconds * 10)) / 10) s"
    }

    /// The summary without the time: equal for equal explorations, so
    /// that two builds' runs can be compared line by line.
    public var counts: String {
        var s = "\(crashPoints) crash points explored (\(workloadCuts) during workloads, \(recoveryCuts) during recovery) in \(runs) runs"
        s += ", \(violationCount) violation(s), \(detected) detected, \(tolerated) tolerated"
        return s
    }
}

/// Cuts the power at I/O boundaries of a workload and checks each recovery.
/// See the comment at the top of this file.
public struct CrashExplorer<Workload: CrashWorkload>: Sendable {
    public let workload: Workload
    /// At most this many cuts per recovery (nil: every boundary of it).
    public var recoveryCutsMax: Int?

    public init(_ workload: Workload, recoveryCutsMax: Int? = nil) {
        self.workload = workload
        self.recoveryCutsMax = recoveryCutsMax
    }

    /// The I/O boundaries a run of `seed` passes without a cut.
    public func boundaries(seed: UInt64) -> Int {
        let disk = SimulatedDisk(seed: seed, faults: workload.faults)
        _ = workload.run(CrashRun(disk: disk, seed: seed, cutAfter: nil))
        return disk.ioCount
    }

    /// Cuts after every boundary of the run of `seed`.
    public func exploreExhaustively(seed: UInt64) -> CrashReport {
        let start = ContinuousClock.now
        let total = boundaries(seed: seed)
        var report = explore(seed: seed, cuts: total >= 1 ? Array(1...total) : [])
        report.runs += 1
        report.elapsedSeconds = seconds(since: start)
        return report
    }

    /// Cuts after `points` distinct boundaries of the run of `seed`, chosen
    /// by the seed (all of them when the run has fewer).
    public func exploreRandomly(seed: UInt64, points: Int) -> CrashReport {
        precondition(points >= 0)
        let start = ContinuousClock.now
        let total = boundaries(seed: seed)
        var cuts = total >= 1 ? Array(1...total) : []
        var random = SimulationRandom(seed: seed, stream: 0xC075)
        random.shuffle(&cuts)
        var report = explore(seed: seed, cuts: Array(cuts.prefix(points)).sorted())
        report.runs += 1
        report.elapsedSeconds = seconds(since: start)
        return report
    }

    /// Explores the given cuts of the run of `seed`.
    public func explore(seed: UInt64, cuts: [Int]) -> CrashReport {
        var report = CrashReport()
        for cut in cuts { explore(seed: seed, cut: cut, recoveryCut: nil, into: &report) }
        return report
    }

    /// Reruns one point: the cut after boundary `cut` and, given
    /// `recoveryCut`, only that cut of its recovery (nil: all of them).
    public func explore(seed: UInt64, cut: Int, recoveryCut: Int? = nil) -> CrashReport {
        let start = ContinuousClock.now
        var report = CrashReport()
        explore(seed: seed, cut: cut, recoveryCut: recoveryCut, into: &report)
        report.elapsedSeconds = seconds(since: start)
        return report
    }

    private func explore(seed: UInt64, cut: Int, recoveryCut only: Int?, into report: inout CrashReport) {
        precondition(cut >= 0)
        let point = CrashPoint(seed: seed, cut: cut)
        let disk = SimulatedDisk(seed: seed, faults: workload.faults)
        var model = workload.run(CrashRun(disk: disk, seed: seed, cutAfter: cut))
        if !disk.isPoweredOff { disk.powerCut() }
        report.workloadCuts += 1
        report.count(workload.findings(of: model), workload: workload.name, at: point)
        workload.damage(disk, seed: seed ^ UInt64(cut) &* 0x9E37_79B9_7F4A_7C15, model: &model)
        // Recovery runs without injected I/O faults: what is checked is what
        // the crash left, not new faults.
        disk.faults = SimulatedDisk.Faults()
        let snapshot = disk.copy()

        let storage = disk.reboot()
        let before = disk.ioCount
        let first = workload.recover(storage)
        let recoveryBoundaries = disk.ioCount - before
        if case .interrupted = first {
            report.record(CrashViolation(workload: workload.name, point: point, description: "recovery failed as if the power were cut, with the power on"))
        }
        report.count(workload.check(first, model: model), workload: workload.name, at: point)
        guard recoveryBoundaries > 0 else { return }

        var cuts = Array(1...recoveryBoundaries)
        if let only {
            cuts = cuts.contains(only) ? [only] : []
        } else if let most = recoveryCutsMax, cuts.count > most {
            var random = SimulationRandom(seed: seed ^ UInt64(cut), stream: 0x2EC0)
            random.shuffle(&cuts)
            cuts = Array(cuts.prefix(most)).sorted()
        }
        for j in cuts {
            let again = recoverAfterCut(snapshot: snapshot, recoveryCut: j)
            report.recoveryCuts += 1
            if !again.sameResult(as: first) {
                report.record(CrashViolation(
                    workload: workload.name, point: CrashPoint(seed: seed, cut: cut, recoveryCut: j),
                    description: "recovery after a power cut during recovery differs: first \(first.summary); then \(again.summary)"))
            }
        }
    }

    /// On a copy of the post-crash disk: recovery cut after its boundary
    /// `j`, then another recovery.
    private func recoverAfterCut(snapshot: SimulatedDisk, recoveryCut j: Int) -> RecoveryAttempt<Workload.State> {
        let disk = snapshot.copy()
        let storage = disk.reboot()
        disk.cutAfter(ioBoundary: disk.ioCount + j)
        _ = workload.recover(storage)
        if !disk.isPoweredOff { disk.powerCut() }
        return workload.recover(disk.reboot())
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
