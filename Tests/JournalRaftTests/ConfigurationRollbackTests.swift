import CRaft
import JournalRaft
import Testing

/// A follower rolls back an uncommitted configuration entry that a new
/// leader overwrites, although the committed configuration's own entry was
/// compacted away behind a snapshot. Canonical raft 0.15 reads that entry
/// from its in-memory log to roll back (`membershipRollback`) and
/// dereferences nothing when it is gone; the raft I/O rolls back first.
@Suite("Raft configuration rollback behind a snapshot, simulated")
struct ConfigurationRollbackTests {
    @Test("a follower whose uncommitted configuration entry is overwritten rolls back to the committed configuration, compacted or not")
    func rollbackBehindASnapshot() throws {
        let cluster = try SimCluster.quiet(seed: 11, nodeCount: 5, milliseconds: 1_500)
        defer { cluster.shutdown() }
        let leader = try #require(cluster.nodes.first { $0.isLeader }, "\(cluster.summary)")
        let follower = try #require(cluster.nodes.first { !$0.isLeader })
        let others = cluster.ids.filter { $0 != leader.id && $0 != follower.id }
        let followerRaft = try #require(follower.raft)
        let committed = followerRaft.pointee.configuration_index
        try #require(followerRaft.pointee.log.offset >= committed, "the committed configuration's entry is compacted: \(cluster.summary)")
        // The leader and the follower on one side, the three others on the
        // other: the leader's configuration change reaches the follower only.
        for a in [leader.id, follower.id] {
            for b in others { cluster.network.cut.insert([min(a, b), max(a, b)]) }
        }
        cluster.network.inFlight.removeAll { m in others.contains(m.to) != others.contains(m.from) }
        cluster.clientsActive = false
        try cluster.addNode(id: 6, bootstrap: nil)
        let leaderRaft = try #require(leader.raft)
        #expect(SnapshotMembershipTests.change(leaderRaft) { raft_add(leaderRaft, $0, 6, "n6", $1) } == 0)
        let entry = leaderRaft.pointee.configuration_uncommitted_index
        for _ in 0..<2_000 where followerRaft.pointee.configuration_uncommitted_index != entry { cluster.step() }
        try #require(followerRaft.pointee.configuration_uncommitted_index == entry && entry > 0, "\(cluster.summary)")
        #expect(followerRaft.pointee.configuration.n == 6)
        // The majority elects a leader of its own and writes over that index.
        cluster.clientsActive = true
        for _ in 0..<20_000 {
            let newLeader = cluster.nodes.first { others.contains($0.id) && $0.isLeader }
            if let raft = newLeader?.raft, raft_last_applied(raft) > entry + 2 { break }
            cluster.step()
        }
        try #require(cluster.nodes.contains { others.contains($0.id) && $0.isLeader }, "\(cluster.summary)")
        cluster.network.heal()
        let newLeader = try #require(cluster.nodes.first { others.contains($0.id) && $0.isLeader })
        let target = try #require(newLeader.raft.map { raft_last_applied($0) })
        for _ in 0..<20_000 where (follower.raft.map { raft_last_applied($0) } ?? 0) < target && cluster.failure == nil { cluster.step() }
        #expect(cluster.failure == nil, "\(cluster.summary)")
        let raft = try #require(follower.raft, "the follower is up")
        #expect(raft_last_applied(raft) >= target, "\(cluster.summary)")
        #expect(raft.pointee.configuration.n == 5, "the configuration without node 6: \(cluster.summary)")
        #expect(raft.pointee.configuration_uncommitted_index == 0)
        #expect(cluster.history.violation() == nil)
    }
}
