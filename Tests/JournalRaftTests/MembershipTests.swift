import CRaft
import Testing

/// Seeds of each membership scenario: 8 in the suite; `RAFT_SIM_SEEDS`
/// raises them with the fault test's (one for every 250).
let membershipSeeds: ClosedRange<UInt64> = 1...max(4, clusterSeeds.upperBound / 250)

@Suite("Raft cluster membership, simulated")
struct MembershipTests {
    /// Runs `plan` on a cluster of `nodeCount` under the fault test's faults,
    /// then settles it and checks the history and the final voters.
    @discardableResult
    func run(seed: UInt64, nodeCount: Int, plan: [MembershipStep], voters: [UInt64]) throws -> SimCluster {
        let cluster = try SimCluster(seed: seed, nodeCount: nodeCount)
        defer { cluster.shutdown() }
        cluster.plan = plan
        cluster.planStartMilliseconds = cluster.clock.nowMilliseconds + UInt64(cluster.random.int(in: 200...1_500))
        checkFaultRun(cluster, milliseconds: max(clusterFaultMilliseconds, 3_000))
        #expect(cluster.finalVoters() == voters, "\(cluster.summary)")
        return cluster
    }

    @Test("three nodes grow to five under faults: add, then promote to voter", arguments: membershipSeeds)
    func grow(seed: UInt64) throws {
        try run(seed: seed, nodeCount: 3, plan: [.join(4), .join(5)], voters: [1, 2, 3, 4, 5])
    }

    @Test("five nodes shrink to three under faults, the leader's removal included", arguments: membershipSeeds)
    func shrink(seed: UInt64) throws {
        let first = seed % 5 + 1
        let second = (seed + 2) % 5 + 1
        let voters = (1...5).filter { $0 != first && $0 != second }.map { UInt64($0) }
        try run(seed: seed, nodeCount: 5, plan: [.leave(first), .leave(second)], voters: voters)
    }

    @Test("a node is replaced under faults: a new one joins, an old one leaves", arguments: membershipSeeds)
    func replace(seed: UInt64) throws {
        let leaving = seed % 3 + 1
        let voters = [1, 2, 3, 4].filter { $0 != leaving }
        try run(seed: seed, nodeCount: 3, plan: [.join(4), .leave(leaving)], voters: voters)
    }

    @Test("a node that joins after the log was compacted receives it as a snapshot")
    func joinBySnapshot() throws {
        let cluster = try SimCluster.quiet(seed: 7, milliseconds: 1_500)
        defer { cluster.shutdown() }
        #expect(cluster.history.acknowledgedWrites.count > 40, "enough writes for a snapshot: \(cluster.summary)")
        cluster.plan = [.join(4)]
        #expect(cluster.settle() == nil, "\(cluster.summary)")
        #expect(cluster.snapshotsDelivered[4, default: 0] > 0, "\(cluster.summary)")
        #expect(cluster.finalVoters() == [1, 2, 3, 4])
        #expect(cluster.history.violation() == nil)
    }

    @Test("raft_recover forces a configuration on the survivor of a lost majority; it survives a power cut")
    func recoverLostMajority() throws {
        let cluster = try SimCluster.quiet(seed: 11, milliseconds: 1_000)
        defer { cluster.shutdown() }
        #expect(cluster.settle() == nil, "\(cluster.summary)")
        let acknowledged = cluster.history.acknowledgedWrites.count
        for node in cluster.nodes {
            node.crash()
            node.retired = node.id != 1
        }
        let survivor = cluster.nodes[0]
        _ = survivor.disk.reboot()
        try survivor.start(recover: [1])
        #expect(cluster.settle() == nil, "the survivor alone commits: \(cluster.summary)")
        #expect(cluster.finalVoters() == [1])
        survivor.crash()
        #expect(cluster.settle() == nil, "the forced configuration survives a power cut: \(cluster.summary)")
        #expect(cluster.finalVoters() == [1])
        #expect(cluster.history.acknowledgedWrites.count > acknowledged)
        #expect(cluster.missingWrites().isEmpty)
        #expect(cluster.history.violation() == nil)
    }
}
