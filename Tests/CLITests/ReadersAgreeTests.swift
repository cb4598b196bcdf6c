import Foundation
import JournalPrimitives
import JournalTesting
import Testing

/// Journals left by the crash explorer's journal workload (power cuts under
/// every fault profile, damage at rest included), written out as files and
/// read by `replay`, `verify` and `inspect` in every recovery mode: the
/// three commands must agree on the records, the end and the verdict.
@Suite struct ReadersAgreeTests {
    static let modes = ["tolerate-torn-tail", "absolute", "salvage"]

    @Test func replayVerifyAndInspectReadCrashedJournalsAlike() async throws {
        let exe = try #require(CLI.executable)
        let scratch = try Scratch(base: NSTemporaryDirectory())
        defer { scratch.remove() }
        var cases: [Case] = []
        for (n, image) in Self.crashedImages(perProfile: 20).enumerated() {
            let dir = scratch.path("j\(n)")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (name, bytes) in image.files { try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name)) }
            cases += Self.modes.map { Case(journal: dir, mode: $0, origin: image.origin) }
        }
        // The commands only read: every case's three run at once, a few
        // cases at a time; the checks follow, in order.
        let runs = try await Self.run(cases, exe: exe, width: 2 * max(2, ProcessInfo.processInfo.activeProcessorCount))
        var outcomes: [String: Int] = [:]
        for (c, r) in zip(cases, runs) {
            let verdict = try Self.agreement(r, at: "\(c.origin), \(c.mode)")
            outcomes[verdict, default: 0] += 1
        }
        #expect(runs.count >= 300, "\(runs.count) cases")
        // The corpus reaches past the clean end: cut tails, salvaged gaps and refusals.
        #expect(outcomes.keys.count >= 3, "\(outcomes)")
    }

    /// One journal read in one recovery mode.
    struct Case {
        var journal: String
        var mode: String
        var origin: String
    }

    /// What the three commands printed for one case.
    struct Runs {
        var replay: CLI.Result
        var verify: CLI.Result
        var inspect: CLI.Result
    }

    /// Runs the three commands of every case, `width` cases at a time;
    /// the results in the order of `cases`.
    static func run(_ cases: [Case], exe: String, width: Int) async throws -> [Runs] {
        try await withThrowingTaskGroup(of: (Int, Runs).self) { group in
            var results = [Runs?](repeating: nil, count: cases.count)
            var next = 0
            func start() {
                guard next < cases.count else { return }
                let (i, c) = (next, cases[next])
                next += 1
                group.addTask {
                    let base = ["--journal", c.journal, "--no-direct", "--recovery", c.mode]
                    async let replay = CLI.runProgramAsync(exe, ["replay", "--json"] + base)
                    async let verify = CLI.runProgramAsync(exe, ["verify"] + base)
                    async let inspect = CLI.runProgramAsync(exe, ["inspect", "--json"] + base)
                    return (i, Runs(replay: try await replay, verify: try await verify, inspect: try await inspect))
                }
            }
            for _ in 0..<width { start() }
            while let (i, r) = try await group.next() {
                results[i] = r
                start()
            }
            return results.compactMap { $0 }
        }
    }

    /// A journal directory as the crash left it, and how to make it again.
    struct Image {
        var files: [String: [UInt8]]
        var origin: String
    }

    /// The durable files after a cut (and the damage the profile does at
    /// rest) at seeded points of seeded runs, for every fault profile.
    static func crashedImages(perProfile: Int) -> [Image] {
        var images: [Image] = []
        var seen = Set<[String: [UInt8]]>()
        for profile in CrashFaultProfile.allCases {
            let workload = JournalCrashWorkload(.small(records: 12, profile: profile))
            let explorer = CrashExplorer(workload)
            var random = SplitMix64(seed: 0x5EAD_E125 ^ UInt64(profile.rawValue.utf8.count))
            var made = 0
            var seed: UInt64 = 0
            while made < perProfile {
                seed += 1
                let total = explorer.boundaries(seed: seed)
                guard total > 0 else { continue }
                for _ in 0..<4 where made < perProfile {
                    let cut = Int(random.next() % UInt64(total)) + 1
                    let disk = SimulatedDisk(seed: seed, faults: workload.faults)
                    var model = workload.run(CrashRun(disk: disk, seed: seed, cutAfter: cut))
                    if !disk.isPoweredOff { disk.powerCut() }
                    workload.damage(disk, seed: seed ^ UInt64(cut) &* 0x9E37_79B9_7F4A_7C15, model: &model)
                    let files = disk.durableImage()
                    // A cut before the metadata is durable leaves no journal.
                    guard files["journal.meta"] != nil, seen.insert(files).inserted else { continue }
                    images.append(Image(files: files, origin: "\(profile.rawValue) seed \(seed) cut \(cut)"))
                    made += 1
                }
            }
        }
        return images
    }

    /// Checks that the three commands agree over one journal in one mode,
    /// and returns the verdict they agree on.
    static func agreement(_ runs: Runs, at: String) throws -> String {
        let (replay, verify, inspect) = (runs.replay, runs.verify, runs.inspect)
        #expect(replay.status == verify.status && verify.status == inspect.status,
                "exit codes differ at \(at): replay \(replay.status) \(replay.errorLine); verify \(verify.status) \(verify.errorLine); inspect \(inspect.status) \(inspect.errorLine)")
        #expect([0, 65].contains(replay.status), "\(at): replay exit \(replay.status): \(replay.errorLine)")
        let records = try replay.lines.map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(at): \(line)")
            return (lsn: try #require(object["lsn"] as? Int), bytes: try #require(object["bytes"] as? Int))
        }
        guard let report = (try? JSONSerialization.jsonObject(with: inspect.stdout) as? [String: Any])?["recovery"] as? [String: Any] else {
            // The journal does not open: the three refuse it alike, with the same error.
            #expect(records.isEmpty, "\(at): replay printed records of a journal inspect refuses")
            #expect(replay.errorLine == inspect.errorLine && verify.errorLine.hasSuffix(inspect.errorLine),
                    "\(at): errors differ: \(replay.errorLine) / \(verify.errorLine) / \(inspect.errorLine)")
            return "refused"
        }
        let description = try #require(report["description"] as? String)
        let count = try #require(report["record_count"] as? Int)
        #expect(records.count == count, "\(at): replay printed \(records.count) records, recovery counted \(count)")
        #expect(zip(records, records.dropFirst()).allSatisfy { $0.lsn < $1.lsn }, "\(at): replay LSNs do not increase")
        if let first = records.first, let last = records.last {
            // Salvage that resumes nowhere ends the log past the LSNs it lost.
            let gaps = try #require(report["gaps"] as? [[String: Any]])
            let lastLSN = gaps.last.flatMap { $0["resume_segment"] as? String == "" ? $0["first_lsn_after"] as? Int : nil }.map { $0 - 1 } ?? last.lsn
            #expect(first.lsn == report["first_lsn"] as? Int && lastLSN == report["last_lsn"] as? Int,
                    "\(at): replay read LSN \(first.lsn)...\(last.lsn), recovery says \(description)")
        }
        let bytes = records.reduce(0) { $0 + $1.bytes }
        #expect(verify.stdoutText.hasPrefix("verified \(records.count) records (\(bytes) bytes)"), "\(at): \(verify.stdoutText) vs \(records.count) records, \(bytes) bytes")
        #expect(verify.stdoutText.hasSuffix("recovery: \(description)\n"), "\(at): verify's recovery line \(verify.stdoutText) vs inspect's \(description)")
        return try #require(report["outcome"] as? String)
    }
}
