import Foundation
import Testing

/// `journalctl-swift kv`: put, get, delete, scan and checkpoint through the
/// CLI, across processes (each command reopens and recovers the store).
@Suite struct KeyValueCLITests {
    @Test(arguments: fileSystems)
    func putGetDeleteScanCheckpoint(base: String) throws {
        let scratch = try Scratch(base: base)
        defer { scratch.remove() }
        let s = ["--store", scratch.path("store")]
        for (k, v) in [("beta", "2"), ("alpha", "1"), ("gamma", "three"), ("alpha", "one")] {
            let put = try CLI.run(["kv", "put"] + s + [k, v])
            #expect(put.status == 0, "\(put.stderr)")
        }
        let get = try CLI.run(["kv", "get"] + s + ["alpha"])
        #expect(get.status == 0 && get.lines == ["one"], "the last put wins")
        let scan = try CLI.run(["kv", "scan"] + s)
        #expect(scan.lines == ["alpha\tone", "beta\t2", "gamma\tthree"], "ordered scan")
        #expect(try CLI.run(["kv", "delete"] + s + ["beta"]).status == 0)
        let missing = try CLI.run(["kv", "get"] + s + ["beta"])
        #expect(missing.status == 66 && missing.errorLine.contains("beta"), "a missing key: one line, exit 66")
        let checkpoint = try CLI.run(["kv", "checkpoint"] + s)
        #expect(checkpoint.status == 0, "\(checkpoint.stderr)")
        #expect(try CLI.run(["kv", "scan"] + s).lines == ["alpha\tone", "gamma\tthree"], "the state survives a checkpoint and reopen")
        let usage = try CLI.run(["kv", "put"] + s + ["only-a-key"])
        #expect(usage.status == 64, "a missing value is a usage error")
    }
}
