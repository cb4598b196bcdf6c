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
}
