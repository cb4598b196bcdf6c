import JournalPrimitives
import ArgumentParser
@_spi(Testing) import Journal
@_spi(Testing) import JournalTesting
import JournalCLISupport
@_spi(Testing) import StoreCrashTesting

#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift crash-sim`: the power-cut explorer on the simulated disk.
struct CrashSim: ParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-sim",
        abstract: "Cut the power at I/O boundaries of journal workloads on a simulated disk; check every recovery.",
        discussion: """
            Each seed picks a workload and a fault profile (none, garbage-sectors, write-errors, \
            bit-flips, misdirected-writes): small workloads are cut after every I/O boundary, large \
            ones at seeded random boundaries; each recovery is cut too, and recovered again. Prints \
            the crash points explored and the violations found; a violation exits 70 and prints the \
            command that reproduces it on stderr. --seed S --cut K reruns one point. --workload kv \
            explores the key-value store instead (transactions and checkpoints on the page store), \
            every seed cut after every I/O boundary, without injected faults unless --profile names \
            one: a recovery must hold the state after some prefix of the batches that includes every \
            acknowledged one (under damage at rest, a shorter one only where the journal cannot tell \
            the damage from a torn write). --defect applies to the store's journal too.
            """)

    @Option(name: .long, help: "Seeds to explore, from --seed (default 0).")
    var seeds: Int?

    @Option(name: .long, help: "The first (or only) seed.")
    var seed: UInt64?

    @Option(name: .long, help: "Rerun one point: cut after this I/O boundary (needs --seed).")
    var cut: Int?

    @Option(name: .long, help: "With --cut: only this cut of the recovery (1 = after its first boundary).")
    var recoveryCut: Int?

    @Option(name: .long, help: "Records of the workloads explored exhaustively.")
    var exhaustiveRecords: Int = JournalCrashScenario.exhaustiveRecordsDefault

    @Option(name: .long, help: "Random cuts per large workload.")
    var points: Int = 60

    @Option(name: .long, help: "Run for this many minutes, seed after seed (instead of --seeds).")
    var minutes: Double?

    @Option(name: .long, help: ArgumentHelp(
        "Explore every seed with this journal workload size (small or large), or the key-value store (kv).", valueName: "workload"))
    var workload: String?

    @Option(name: .long, help: ArgumentHelp("Explore every seed under this fault profile.", valueName: "profile"))
    var profile: String?

    @Option(name: .long, help: ArgumentHelp(
        "Switch on a deliberate defect to show the explorer catches it: acknowledge-before-durable, skip-payload-checksums, rewrite-acknowledged-blocks, truncate-ignoring-positions.",
        valueName: "defect"))
    var defect: String?

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    @Flag(name: .long, help: "Log at level info (default: warnings only) to stderr.")
    var verbose = false

    static let seedsRange = 1...1_000_000
    static let pointsRange = 1...100_000
    static let minutesRange = 0.001...10_080.0

    func validate() throws {
        if let seeds, !Self.seedsRange.contains(seeds) { throw ValidationError("--seeds \(seeds) is not in \(Self.seedsRange)") }
        if let cut {
            guard seed != nil else { throw ValidationError("--cut needs --seed") }
            guard cut >= 0 else { throw ValidationError("--cut \(cut) is negative") }
            guard seeds == nil && minutes == nil else { throw ValidationError("--cut reruns one point: no --seeds or --minutes") }
        }
        if let recoveryCut {
            guard cut != nil else { throw ValidationError("--recovery-cut needs --cut") }
            guard recoveryCut >= 1 else { throw ValidationError("--recovery-cut \(recoveryCut) is below 1") }
        }
        if !JournalCrashScenario.exhaustiveRecordsRange.contains(exhaustiveRecords) {
            throw ValidationError("--exhaustive-records \(exhaustiveRecords) is not in \(JournalCrashScenario.exhaustiveRecordsRange)")
        }
        if !Self.pointsRange.contains(points) { throw ValidationError("--points \(points) is not in \(Self.pointsRange)") }
        if let minutes {
            guard Self.minutesRange.contains(minutes) else { throw ValidationError("--minutes \(minutes) is not in 0.001...10080") }
            guard seeds == nil else { throw ValidationError("--minutes and --seeds exclude each other") }
        }
        if let workload, workload != Self.keyValueWorkload, JournalCrashScenario.Size(rawValue: workload) == nil {
            throw ValidationError("--workload \(workload): expected small, large or \(Self.keyValueWorkload)")
        }
        if isKeyValue && exhaustiveRecords != JournalCrashScenario.exhaustiveRecordsDefault {
            throw ValidationError("--workload \(Self.keyValueWorkload) takes no --exhaustive-records")
        }
        if let profile, CrashFaultProfile(rawValue: profile) == nil {
            throw ValidationError("--profile \(profile): expected one of \(CrashFaultProfile.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let defect, !JournalDefects.named.contains(where: { $0.0 == defect }) {
            throw ValidationError("--defect \(defect): expected one of \(JournalDefects.named.map(\.0).joined(separator: ", "))")
        }
    }

    /// The `--workload` value of the key-value store.
    static let keyValueWorkload = "kv"
    var isKeyValue: Bool { workload == Self.keyValueWorkload }
    var keyValueExplorer: CrashExplorer<KeyValueStoreCrashWorkload> {
        var workload = KeyValueStoreCrashWorkload(profile: profile.flatMap(CrashFaultProfile.init(rawValue:)) ?? .none)
        workload.defects = defects
        return CrashExplorer(workload)
    }

    /// The journal defects `--defect` names (none without it).
    var defects: JournalDefects {
        defect.flatMap { d in JournalDefects.named.first { $0.0 == d }?.1 } ?? []
    }

    /// Explores one seed: the key-value store exhaustively, or the seed's
    /// journal scenario (kept in `scenarios` for reports).
    func explore(seed: UInt64, scenarios: inout [UInt64: JournalCrashScenario]) -> CrashReport {
        if isKeyValue { return keyValueExplorer.exploreExhaustively(seed: seed) }
        let s = scenario(seed: seed)
        scenarios[seed] = s
        return s.explore(randomPoints: points)
    }

    func describe(seed: UInt64, scenarios: [UInt64: JournalCrashScenario]) -> String {
        if isKeyValue {
            let w = keyValueExplorer.workload
            let d = defect.map { ", defect \($0)" } ?? ""
            return "seed \(seed): key-value store, \(w.batchCount) batches, a checkpoint every \(w.checkpointEvery), faults \(w.profile.rawValue)\(d)"
        }
        return scenarios[seed]?.description ?? "seed \(seed)"
    }

    func scenario(seed: UInt64) -> JournalCrashScenario {
        JournalCrashScenario(
            seed: seed, exhaustiveRecords: exhaustiveRecords, size: workload.flatMap(JournalCrashScenario.Size.init(rawValue:)),
            profile: profile.flatMap(CrashFaultProfile.init(rawValue:)),
            defects: defects)
    }

    /// The command that reruns `point`, with this run's overrides.
    func rerun(_ point: CrashPoint) -> String {
        var s = "journalctl-swift crash-sim --seed \(point.seed) --cut \(point.cut)"
        if let j = point.recoveryCut { s += " --recovery-cut \(j)" }
        if exhaustiveRecords != JournalCrashScenario.exhaustiveRecordsDefault { s += " --exhaustive-records \(exhaustiveRecords)" }
        if let workload { s += " --workload \(workload)" }
        if let profile { s += " --profile \(profile)" }
        if let defect { s += " --defect \(defect)" }
        return s
    }

    func run() throws {
        let first = seed ?? 0
        var report = CrashReport()
        var scenarios: [UInt64: JournalCrashScenario] = [:]
        if let cut, isKeyValue {
            report = keyValueExplorer.explore(seed: first, cut: cut, recoveryCut: recoveryCut)
        } else if let cut {
            let s = scenario(seed: first)
            scenarios[first] = s
            report = s.explorer.explore(seed: first, cut: cut, recoveryCut: recoveryCut)
        } else if let minutes {
            let deadline = ContinuousClock.now + .milliseconds(Int64(minutes * 60_000))
            var next = first
            while ContinuousClock.now < deadline {
                report.add(explore(seed: next, scenarios: &scenarios))
                next &+= 1
            }
        } else {
            let count = UInt64(seeds ?? (seed == nil ? 20 : 1))
            for next in first..<(first &+ count) {
                report.add(explore(seed: next, scenarios: &scenarios))
            }
        }
        if json {
            let violations = report.violations.map { v in
                JSON.object([
                    ("seed", "\(v.point.seed)"), ("cut", "\(v.point.cut)"),
                    ("recovery_cut", v.point.recoveryCut.map { "\($0)" } ?? "null"),
                    ("scenario", JSON.quote(describe(seed: v.point.seed, scenarios: scenarios))),
                    ("description", JSON.quote(v.description)), ("rerun", JSON.quote(rerun(v.point))),
                ])
            }
            print(JSON.object([
                ("crash_points", "\(report.crashPoints)"), ("workload_cuts", "\(report.workloadCuts)"),
                ("recovery_cuts", "\(report.recoveryCuts)"), ("runs", "\(report.runs)"),
                ("violation_count", "\(report.violationCount)"), ("violations", JSON.array(violations)),
                ("detected", "\(report.detected)"), ("tolerated", "\(report.tolerated)"),
                ("seconds", "\(report.elapsedSeconds)"),
            ]))
        } else {
            print(report.summary)
        }
        guard report.violationCount > 0 else { return }
        for v in report.violations {
            let scenario = describe(seed: v.point.seed, scenarios: scenarios)
            writeStandardError("violation at \(v.point) (\(scenario)): \(v.description)\n  rerun: \(rerun(v.point))")
        }
        if report.violationsDropped > 0 { writeStandardError("... and \(report.violationsDropped) more violation(s)") }
        throw CLIError(.violation, "\(report.violationCount) violation(s); first at \(report.violations.first.map { "\($0.point)" } ?? "?"): rerun with \(report.violations.first.map { rerun($0.point) } ?? "")")
    }
}
