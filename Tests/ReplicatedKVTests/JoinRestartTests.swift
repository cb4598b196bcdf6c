import Foundation
import Glibc
import ReplicatedKV
import Testing
import TestSupport

/// A node that joined a running cluster restarts like any other member:
/// its store directory records the cluster and raft's log its membership,
/// so `--join` is needed only at its first start (and harmless later).
@Suite("Replicated key-value service: restarting a node that joined")
struct JoinRestartTests {
    @Test("a node that joined restarts without --join, catches up and serves; a start with --join again changes nothing")
    func restartWithoutJoin() throws {
        let cluster = try ProcessCluster(size: 4, bootstrapSize: 3, label: "kv-join-restart")
        for id: UInt64 in 1...3 { try cluster.start(id) }
        _ = try #require(cluster.waitForLeader())
        try cluster.start(4)
        let added = try ServeBadInputTests.run(["kv", "member", "add", "--cluster", cluster.clusterArgument, cluster.entry(4)], in: cluster.directory)
        #expect(added.status == 0, "\(added.stderr)")
        let writer = try ContinuousWriter(cluster: cluster.clusterArgument)
        #expect(writer.waitForAcknowledged(atLeast: 20))

        #expect(cluster.terminate(4) == 0, "log: \(cluster.log(4))")
        let whileDown = writer.acknowledgedCount
        #expect(writer.waitForAcknowledged(atLeast: whileDown + 30), "writes go on while node 4 is down")
        cluster.withoutJoin = [4]
        try cluster.start(4)
        let afterRestart = writer.acknowledgedCount
        #expect(writer.waitForAcknowledged(atLeast: afterRestart + 20))
        let leader = try #require(cluster.waitForLeader())
        let commit = try #require(cluster.status(leader)?["commitIndex"] as? Int)
        #expect(cluster.waitUntil("node 4 to catch up without --join") { ($0[4]?["lastApplied"] as? Int ?? 0) >= commit })

        #expect(cluster.terminate(4) == 0, "log: \(cluster.log(4))")
        cluster.withoutJoin = []
        try cluster.start(4)
        let (acknowledged, _) = writer.stop()
        let client = KVClusterClient(endpoints: try KVClusterClient.endpoints(parsing: cluster.clusterArgument))
        #expect(try client.membership().peers.members.map(\.id) == [1, 2, 3, 4])
        try cluster.checkEveryNode(acknowledged)
        #expect(!cluster.log(4).contains("journalctl-swift:"), "node 4 reported no error: \(cluster.log(4))")
    }
}
