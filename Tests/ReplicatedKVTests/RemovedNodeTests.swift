import Foundation
import Glibc
@testable import ReplicatedKV
import TestSupport
import Testing

/// A node removed from the cluster stops serving as a member: it reports
/// `removed`, refuses requests with 503 `"reason": "removed"`, and
/// `kv serve` stops and exits 69.
@Suite("Replicated key-value service: a removed node stops")
struct RemovedNodeTests {
    @Test("a removed follower learns it from the others, reports removed and refuses key requests")
    func removedFollowerRefuses() throws {
        let cluster = try InProcessCluster(label: "kv-removed-inprocess")
        for id: UInt64 in 1...3 { try cluster.start(cluster.options(id)) }
        _ = try cluster.client().put(Array("a".utf8), Array("1".utf8))
        #expect(InProcessCluster.waitUntil { cluster.leader != nil })
        let leader = try #require(cluster.leader)
        let follower = try #require([UInt64(1), 2, 3].first { $0 != leader })
        let others = [UInt64(1), 2, 3].filter { $0 != follower }
        _ = try cluster.client(others).removeMember(follower)

        #expect(InProcessCluster.waitUntil { cluster.removed.get()[follower] != nil }, "node \(follower) never learned it was removed")
        #expect((try cluster.status(follower))?["state"] as? String == "removed")
        for (method, path) in [("GET", "/kv/a"), ("GET", "/kv/a?local"), ("PUT", "/kv/b"), ("GET", "/cluster/members")] {
            let response = try HTTPClient.request(method, cluster.http(follower), path: path, body: method == "PUT" ? [1] : [])
            let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
            #expect(response.status == 503 && body?["reason"] as? String == "removed", "\(method) \(path): \(response.status) \(response.text)")
        }
        _ = try cluster.client(others).put(Array("b".utf8), Array("2".utf8))
        #expect(try cluster.client(others).membership().peers.members.map(\.id) == others)
        #expect(cluster.removed.get().count == 1, "only node \(follower) was removed: \(cluster.removed.get())")
        #expect(cluster.fatal.get().isEmpty)
    }

    @Test("kv serve of a removed follower stops by itself and exits 69")
    func removedFollowerExits() throws {
        let cluster = try ProcessCluster(size: 3, label: "kv-removed")
        for id in cluster.nodes.map(\.id) { try cluster.start(id) }
        let leader = try #require(cluster.waitForLeader())
        let follower = try #require(cluster.nodes.map(\.id).first { $0 != leader })
        let removed = try ServeBadInputTests.run(["kv", "member", "remove", "--cluster", cluster.clusterArgument, "\(follower)"], in: cluster.directory)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(cluster.waitForExit(follower) == 69, "log: \(cluster.log(follower))")
        #expect(cluster.log(follower).contains("was removed from the cluster"), "log: \(cluster.log(follower))")
        let client = KVClusterClient(endpoints: try KVClusterClient.endpoints(parsing: cluster.clusterArgument))
        _ = try client.put(Array("after".utf8), Array("removal".utf8))
        #expect(try client.get(Array("after".utf8)) == Array("removal".utf8))
    }
}
