import Glibc
import Testing

/// The seeds of the fault test: 16 in the suite; a long run sets
/// `RAFT_SIM_SEEDS` (e.g. `RAFT_SIM_SEEDS=2000 swift test --filter ClusterTests`).
let clusterSeeds: ClosedRange<UInt64> = 1...(getenv("RAFT_SIM_SEEDS").flatMap { UInt64(String(cString: $0)) } ?? 16)

@Suite("Raft cluster on the journal, simulated")
struct ClusterTests {
    @Test("three nodes elect a leader and replicate without faults")
    func quiet() throws {
        let cluster = try SimCluster(seed: 1)
        cluster.faults = false
        cluster.network.lossProbability = 0
        cluster.run(milliseconds: 3_000)
        #expect(cluster.failure == nil)
        #expect(cluster.nodes.filter(\.isLeader).count == 1)
        #expect(cluster.history.acknowledgedWrites.count > 20, "\(cluster.summary)")
        #expect(cluster.settle() == nil)
        #expect(cluster.history.violation() == nil)
    }

    @Test("acknowledged writes survive loss, reordering, partitions, crashes and power cuts; the history is linearizable",
          arguments: clusterSeeds)
    func faults(seed: UInt64) throws {
        let cluster = try SimCluster(seed: seed)
        cluster.run(milliseconds: 4_000)
        #expect(cluster.failure == nil, "\(cluster.summary)")
        let settled = cluster.settle()
        #expect(settled == nil, "\(cluster.summary)")
        #expect(cluster.history.violation() == nil, "\(cluster.summary)")
        #expect(cluster.history.acknowledgedWrites.count > 0, "\(cluster.summary)")
    }
}
