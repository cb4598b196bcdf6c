import Foundation
import Glibc
import ReplicatedKV
import Testing
import TestSupport

/// Membership changes through the service, with real processes: two nodes
/// started with --join wait until `kv member add` adds them (3 -> 5), then
/// the leader is removed (5 -> 4) and stops by itself, all under a
/// continuous writer; every acknowledged write must be readable from every remaining
/// node.
@Suite("Replicated key-value service: membership")
struct MembershipTests {
    @Test("grow 3 -> 5 with kv member add, remove the leader: writes go on, nothing acknowledged is lost")
    func growThenRemoveTheLeader() throws {
        let cluster = try ProcessCluster(size: 5, bootstrapSize: 3, label: "kv-members")
        for id: UInt64 in 1...3 { try cluster.start(id) }
        let first = try #require(cluster.waitForLeader())
        let writer = try ContinuousWriter(cluster: cluster.clusterArgument)
        #expect(writer.waitForAcknowledged(atLeast: 20))

        let client = KVClusterClient(endpoints: try KVClusterClient.endpoints(parsing: cluster.clusterArgument))
        for id: UInt64 in 4...5 {
            try cluster.start(id)
            #expect(try !client.membership().peers.members.contains { $0.id == id }, "node \(id) waits to be added")
            let added = try ServeBadInputTests.run(["kv", "member", "add", "--cluster", cluster.clusterArgument, cluster.entry(id)], in: cluster.directory)
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout.contains("\"id\": \(id)"), "\(added.stdout)")
            let before = writer.acknowledgedCount
            #expect(writer.waitForAcknowledged(atLeast: before + 10))
        }
        let five = try client.membership()
        #expect(five.peers.members.map(\.id) == [1, 2, 3, 4, 5])
        #expect(!five.json.contains("spare") && !five.json.contains("standby"), "every member a voter: \(five.json)")

        let removed = try ServeBadInputTests.run(["kv", "member", "remove", "--cluster", cluster.clusterArgument, "\(first)"], in: cluster.directory)
        #expect(removed.status == 0, "\(removed.stderr)")
        _ = try #require(cluster.waitForLeader(excluding: [first]))
        let afterRemoval = writer.acknowledgedCount
        #expect(writer.waitForAcknowledged(atLeast: afterRemoval + 20), "writes go on without the removed leader")
        #expect(cluster.waitForExit(first) == 69, "the removed leader stops by itself: \(cluster.log(first))")
        let (acknowledged, _) = writer.stop()
        #expect(try client.membership().peers.members.map(\.id) == [1, 2, 3, 4, 5].filter { $0 != first })
        try cluster.checkEveryNode(acknowledged)
    }
}
