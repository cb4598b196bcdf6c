import Foundation
import Testing

/// `bench append --api async --peers blocking` end to end at a tiny size:
/// each round runs the blocking API on the same journal right after the
/// async one, and the cell's line carries both p50s and their ratio.
@Suite struct BenchAppendCLITests {
    @Test func theBlockingPeerRunsBesideTheAsyncAPI() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let r = try CLI.run(["bench", "append", "--quick", "--json", "--api", "async", "--peers", "blocking",
                             "--cell", "append-128B-1", "--prime-rollovers", "0", "--dir", scratch.root])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let line = try #require(r.stdoutText.split(separator: "\n").first { $0.contains(#""cell":"append-128B-1""#) })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let async = try #require(object["ours_p50_us"] as? Double)
        let blocking = try #require(object["blocking_p50_us"] as? Double)
        let ratio = try #require(object["p50_ratio_blocking"] as? Double)
        #expect(async > 0 && blocking > 0)
        #expect(abs(ratio - async / blocking) < 1e-3 * ratio)
        #expect((object["blocking"] as? Double ?? 0) > 0, "the blocking API's commits/s")
        #expect(object["pwrite"] == nil && object["sqlite_full"] == nil, "only the peers asked for")
    }
}
