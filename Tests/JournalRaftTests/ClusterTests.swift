import Glibc
import Testing

/// The seeds of the fault test: 16 in the suite; a long run sets
/// `RAFT_SIM_SEEDS` (e.g. `RAFT_SIM_SEEDS=2000 swift test --filter ClusterTests`).
let clusterSeeds: ClosedRange<UInt64> = 1...(getenv("RAFT_SIM_SEEDS").flatMap { UInt64(String(cString: $0)) } ?? 16)
/// The five-node seeds: a quarter as many (a five-node run costs more).
let fiveNodeSeeds: ClosedRange<UInt64> = 1...max(4, clusterSeeds.upperBound / 4)

@Suite("Raft cluster on the journal, simulated")
struct ClusterTests {
    @Test("three nodes elect a leader and replicate without faults")
    func quiet() throws {
        let cluster = try SimCluster.quiet(seed: 1, milliseconds: 3_000)
        defer { cluster.shutdown() }
        #expect(cluster.failure == nil)
        #expect(cluster.nodes.filter(\.isLeader).count == 1)
        #expect(cluster.history.acknowledgedWrites.count > 20, "\(cluster.summary)")
        #expect(cluster.settle() == nil)
        #expect(cluster.history.violation() == nil)
    }

    @Test("acknowledged writes survive loss, reordering, partitions, crashes and power cuts; the history is linearizable",
          arguments: clusterSeeds)
    func faults(seed: UInt64) throws {
        try check(SimCluster(seed: seed))
    }

    @Test("five nodes: acknowledged writes survive the same faults; the history is linearizable", arguments: fiveNodeSeeds)
    func fiveNodes(seed: UInt64) throws {
        try check(SimCluster(seed: seed, nodeCount: 5))
    }

    func check(_ cluster: SimCluster) {
        defer { cluster.shutdown() }
        checkFaultRun(cluster)
    }
}

/// Runs `cluster` under faults for 4 simulated seconds, settles it and
/// checks it: no node failed, every acknowledged write reached every node,
/// the history is linearizable.
func checkFaultRun(_ cluster: SimCluster) {
    cluster.run(milliseconds: 4_000)
    #expect(cluster.failure == nil, "\(cluster.summary)")
    let settled = cluster.settle()
    #expect(settled == nil, "\(cluster.summary)")
    #expect(cluster.history.violation() == nil, "\(cluster.summary)")
    #expect(cluster.history.acknowledgedWrites.count > 0, "\(cluster.summary)")
}
