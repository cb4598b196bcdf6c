import Foundation
import Glibc
import ReplicatedKV
import Testing
import TestSupport

/// Three `kv serve` processes on loopback under a continuous writer: the
/// leader is killed, then a follower (the survivor alone has no quorum),
/// then the old leader restarts, then the follower. Every write the cluster
/// acknowledged must then be readable through the cluster and from every
/// node's own state. Raft snapshots every 16 entries, so restarted nodes
/// catch up by installing the leader's snapshot (an image of its store).
@Suite("Replicated key-value service: real processes")
struct FailoverTests {
    @Test("kill the leader, then a follower, restart both: no acknowledged write is lost on any node")
    func killLeaderThenFollower() throws {
        let cluster = try ProcessCluster(size: 3, label: "kv-failover")
        for id in cluster.nodes.map(\.id) { try cluster.start(id) }
        let first = try #require(cluster.waitForLeader())
        let writer = try ContinuousWriter(cluster: cluster.clusterArgument)
        #expect(writer.waitForAcknowledged(atLeast: 20))

        let killedAt = nowSeconds()
        cluster.kill(first)
        let second = try #require(cluster.waitForLeader(excluding: [first]))
        let electionSeconds = nowSeconds() - killedAt
        let beforeFollower = writer.acknowledgedCount
        #expect(writer.waitForAcknowledged(atLeast: beforeFollower + 20), "writes go on with two of three nodes")

        let follower = try #require(cluster.running.first { $0 != second })
        cluster.kill(follower)
        let lone = try HTTPClient.request("PUT", cluster.http(second), path: "/kv/minority", body: Array("x".utf8))
        #expect(lone.status == 503 && lone.text.contains("\"error\""), "a node without a quorum refuses a write: \(lone.status) \(lone.text)")
        try cluster.start(first)
        _ = try #require(cluster.waitForLeader())
        let afterRestart = writer.acknowledgedCount
        #expect(writer.waitForAcknowledged(atLeast: afterRestart + 20), "writes resume once the old leader is back")
        try cluster.start(follower)
        let (acknowledged, failures) = writer.stop()
        print("kv failover: \(acknowledged.count) writes acknowledged, \(failures) failed; new leader elected \(String(format: "%.3f", electionSeconds)) s after the leader's SIGKILL")

        try cluster.checkEveryNode(acknowledged)
        // Snapshots every 16 entries, 4 kept behind: the follower, down for
        // more than 20 commits, caught up from a snapshot its leader sent.
        let restored = cluster.status(follower)?["snapshotsRestored"] as? Int ?? 0
        #expect(restored >= 1, "node \(follower) caught up without installing a snapshot")
    }
}
