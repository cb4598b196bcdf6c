import CRaft
import JournalRaft
import Testing

/// Configuration changes around installed snapshots, in the simulated
/// cluster.
@Suite("Raft snapshots and configuration changes, simulated")
struct SnapshotMembershipTests {
    @Test("a follower that installs a snapshot over its uncommitted configuration entry can change the configuration once it leads")
    func snapshotOverAnUncommittedConfiguration() throws {
        let cluster = try SimCluster.quiet(seed: 3, milliseconds: 500)
        defer { cluster.shutdown() }
        let leader = try #require(cluster.nodes.first { $0.isLeader }, "\(cluster.summary)")
        let follower = try #require(cluster.nodes.first { !$0.isLeader })
        let leaderRaft = try #require(leader.raft)
        // Node 4 is added as a spare: a configuration entry the follower
        // stores, then is cut off before it learns that it is committed.
        try cluster.addNode(id: 4, bootstrap: nil)
        #expect(Self.change(leaderRaft) { raft_add(leaderRaft, $0, 4, "n4", $1) } == 0)
        let entry = leaderRaft.pointee.configuration_uncommitted_index
        for _ in 0..<2_000 where follower.raft?.pointee.configuration_uncommitted_index != entry { cluster.step() }
        try #require(follower.raft?.pointee.configuration_uncommitted_index == entry, "\(cluster.summary)")
        cluster.network.isolate(follower.id, among: cluster.ids)
        cluster.network.inFlight.removeAll { $0.to == follower.id || $0.from == follower.id }
        // The others commit it and write on: the leader's snapshots pass it
        // and its log is compacted behind them.
        cluster.run(milliseconds: 1_500)
        let snapshotIndex = try #require(leader.io?.store.snapshotIndex)
        try #require(snapshotIndex > entry + 30, "\(cluster.summary)")
        cluster.network.heal()
        for _ in 0..<5_000 where (follower.raft.map { raft_last_applied($0) } ?? 0) < snapshotIndex { cluster.step() }
        #expect(cluster.snapshotsDelivered[follower.id, default: 0] > 0, "\(cluster.summary)")
        try #require((follower.raft.map { raft_last_applied($0) } ?? 0) >= snapshotIndex, "\(cluster.summary)")
        // The leader hands over to the follower, which then promotes node 4.
        let transfer = UnsafeMutablePointer<raft_transfer>.allocate(capacity: 1)
        transfer.initialize(to: raft_transfer())
        let transferring = raft_transfer(leaderRaft, transfer, follower.id) { req in req?.deallocate() }
        if transferring != 0 { transfer.deallocate() }
        #expect(transferring == 0)
        for _ in 0..<2_000 where !follower.isLeader { cluster.step() }
        let followerRaft = try #require(follower.raft)
        try #require(follower.isLeader, "\(cluster.summary)")
        let rv = Self.change(followerRaft) { raft_assign(followerRaft, $0, 4, Int32(RAFT_VOTER), $1) }
        #expect(rv == 0, "raft_assign on the new leader: \(String(cString: raft_strerror(rv))), uncommitted configuration index \(followerRaft.pointee.configuration_uncommitted_index)")
        for _ in 0..<5_000 where cluster.committedVoters != [1, 2, 3, 4] { cluster.step() }
        #expect(cluster.committedVoters == [1, 2, 3, 4], "\(cluster.summary)")
        #expect(cluster.history.violation() == nil)
    }

    /// Makes a configuration change through `call` (raft's function with a
    /// request and callback); the request frees itself when it completes.
    static func change(_ raft: UnsafeMutablePointer<raft>, _ call: (UnsafeMutablePointer<raft_change>, raft_change_cb) -> Int32) -> Int32 {
        let req = UnsafeMutablePointer<raft_change>.allocate(capacity: 1)
        req.initialize(to: raft_change())
        let rv = call(req) { req, _ in req?.deallocate() }
        if rv != 0 { req.deallocate() }
        return rv
    }
}
