import Foundation
import JournalCLISupport
import Testing

/// `crash-sim --workload kv` under the journal's fault profiles, through
/// the built CLI: the exit code, the shape of the output, and a deliberate
/// journal defect under the store reported as violations with the exit
/// code Docs/cli.md documents (70) and a rerun command that reproduces one.
@Suite struct CrashSimKeyValueTests {
    static let violationExit = JournalExitCode.violation.rawValue

    /// One seed under bit flips: every cut recovered without a violation,
    /// the flips detected or tolerated, one JSON object on stdout.
    @Test func oneSeedUnderBitFlipsPrintsItsCountsAsJSON() throws {
        let r = try CLI.run(["crash-sim", "--workload", "kv", "--profile", "bit-flips", "--seeds", "1", "--json"])
        #expect(r.status == 0, "\(r.errorLine)")
        #expect(r.errorLine.isEmpty, "\(r.errorLine)")
        let object = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "\(r.stdoutText)")
        #expect(Set(object.keys) == ["crash_points", "workload_cuts", "recovery_cuts", "runs", "violation_count", "violations",
                                     "detected", "tolerated", "seconds"])
        let points = try #require(object["crash_points"] as? Int)
        let workloadCuts = try #require(object["workload_cuts"] as? Int)
        let recoveryCuts = try #require(object["recovery_cuts"] as? Int)
        #expect(points == workloadCuts + recoveryCuts && workloadCuts > 50 && recoveryCuts > 0, "\(object)")
        #expect(object["runs"] as? Int == 1)
        #expect(object["violation_count"] as? Int == 0 && (object["violations"] as? [Any])?.isEmpty == true, "\(object)")
        let detected = try #require(object["detected"] as? Int)
        let tolerated = try #require(object["tolerated"] as? Int)
        #expect(detected > 0, "flips in written data are reported as corruption: \(object)")
        #expect(detected + tolerated <= points)
    }

    /// A journal that acknowledges before the write is durable, under the
    /// store and garbage sectors: exit 70, the summary on stdout, every
    /// violation on stderr with its rerun command, and the rerun of the
    /// first one finds it again.
    @Test func aDefectUnderTheStoreExitsWithViolations() throws {
        let flags = ["--workload", "kv", "--profile", "garbage-sectors", "--defect", "acknowledge-before-durable"]
        let r = try CLI.run(["crash-sim", "--seeds", "1"] + flags)
        #expect(r.status == Self.violationExit, "\(r.status): \(r.errorLine)")
        let summary = try #require(r.lines.first)
        #expect(r.lines.count == 1)
        let match = try #require(summary.wholeMatch(of: /(\d+) crash points explored \((\d+) during workloads, (\d+) during recovery\) in 1 runs, (\d+) violation\(s\), (\d+) detected, (\d+) tolerated, [0-9.]+ s/), "\(summary)")
        let violations = Int(match.4) ?? 0
        #expect(violations > 0)
        let lines = r.errorLine.split(separator: "\n").map(String.init)
        let found = lines.filter { $0.hasPrefix("violation at seed 0 cut ") }
        #expect(!found.isEmpty && found.allSatisfy { $0.contains("key-value store") && $0.contains("defect acknowledge-before-durable") }, "\(lines.prefix(4))")
        let reruns = lines.filter { $0.hasPrefix("  rerun: journalctl-swift crash-sim --seed 0 --cut ") }
        #expect(reruns.count == found.count)
        #expect(reruns.allSatisfy { $0.hasSuffix(" " + flags.joined(separator: " ")) }, "\(reruns.prefix(2))")
        #expect(lines.last?.hasPrefix("journalctl-swift: \(violations) violation(s); first at seed 0 cut ") == true, "\(lines.last ?? "")")
        // The first rerun command reproduces its violation.
        let rerun = try #require(reruns.first).dropFirst("  rerun: journalctl-swift ".count).split(separator: " ").map(String.init)
        let again = try CLI.run(rerun)
        #expect(again.status == Self.violationExit, "\(rerun): \(again.status) \(again.errorLine)")
        #expect(again.lines.first?.contains(" 0 violation(s)") == false, "\(again.stdoutText)")
    }

    /// Options the key-value workload does not take, and unknown profiles:
    /// usage errors.
    @Test func badOptionsAreUsageErrors() throws {
        for args in [["--exhaustive-records", "5"], ["--profile", "cosmic-rays"], ["--defect", "none-such"]] {
            let r = try CLI.run(["crash-sim", "--workload", "kv", "--seeds", "1"] + args)
            #expect(r.status == JournalExitCode.usage.rawValue, "\(args): \(r.status) \(r.errorLine)")
            #expect(r.stdout.isEmpty, "\(args)")
        }
    }
}
