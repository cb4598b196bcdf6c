import Foundation
import Testing

/// `bench follow` end to end at a tiny size: its follower in a child process
/// starts, follows and hands back a delivery time for every record (the
/// bench fails otherwise), in the writer's session and in one of its own,
/// and as a listener (`--listen`, the in-process followers too).
@Suite struct BenchFollowCLITests {
    @Test(arguments: [[], ["--follower-session"], ["--listen"]])
    func theChildFollowerDeliversEveryRecord(extra: [String]) throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let r = try CLI.run(["bench", "follow", "--dir", scratch.root, "--rounds", "1", "--appenders", "2",
                             "--records-per-appender", "100"] + extra)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdoutText.contains("lag cross-process: p50"))
    }

    /// `--also-listen` (as `bench all` runs it): one summary per way of
    /// delivery, the followers asked for first, then listeners.
    @Test func alsoListenSummarisesBothDeliveries() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let r = try CLI.run(["bench", "follow", "--json", "--also-listen", "--dir", scratch.root, "--rounds", "1",
                             "--appenders", "2", "--records-per-appender", "100"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let summaries = r.stdoutText.split(separator: "\n").filter { $0.contains(#""bench":"follow""#) }
        #expect(summaries.count == 2)
        #expect(summaries.first?.contains(#""delivery":"copy""#) == true)
        #expect(summaries.last?.contains(#""delivery":"listener""#) == true)
    }
}
