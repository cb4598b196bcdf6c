import Testing

/// Every how many boundaries the sweep cuts: 1 (every one) by default;
/// `RAFT_SWEEP_STRIDE` makes it sparser.
let sweepStride = Int(max(1, environmentNumber("RAFT_SWEEP_STRIDE") ?? 1))
/// The workload seeds swept: one in the suite; `RAFT_SWEEP_SEEDS` for more
/// (each adds about 300 cut runs).
let sweepSeeds: ClosedRange<UInt64> = 1...max(1, environmentNumber("RAFT_SWEEP_SEEDS") ?? 1)

@Suite("Raft cluster power cuts at every I/O boundary, simulated")
struct PowerCutSweepTests {
    func sweep(_ sweep: PowerCutSweep, nodes: [UInt64]?, wholeCluster: Bool) throws {
        let boundaries = try sweep.boundaries()
        var cuts = 0
        var acknowledged = 0
        for id in nodes ?? boundaries.keys.sorted() {
            let range = try #require(boundaries[id], "node \(id) did no I/O")
            for k in stride(from: range.lowerBound, through: range.upperBound, by: sweepStride) {
                let (violation, writes) = try sweep.cut(node: id, after: k, wholeCluster: wholeCluster)
                #expect(violation == nil, "seed \(sweep.seed): \(violation ?? "")")
                if violation != nil { return }
                cuts += 1
                acknowledged += writes
            }
        }
        #expect(cuts > 20, "\(cuts) cuts")
        #expect(acknowledged > cuts, "the workload acknowledged writes: \(acknowledged) over \(cuts) cuts")
    }

    @Test("one node of three loses power at each of its I/O boundaries in turn", arguments: sweepSeeds)
    func oneNode(seed: UInt64) throws {
        try sweep(PowerCutSweep(seed: 20 + seed, nodeCount: 3), nodes: [1], wholeCluster: false)
    }

    @Test("a lagging node loses power at each I/O boundary while it catches up by installing a snapshot", arguments: sweepSeeds)
    func laggingNode(seed: UInt64) throws {
        var workload = PowerCutSweep(seed: 40 + seed, nodeCount: 3)
        workload.lagging = 3
        let cluster = try workload.makeCluster()
        defer { cluster.shutdown() }
        workload.runWorkload(cluster)
        #expect(cluster.snapshotsDelivered[3, default: 0] > 0, "the workload installs a snapshot on node 3: \(cluster.summary)")
        try sweep(workload, nodes: [3], wholeCluster: false)
    }

    @Test("the workload's nodes take snapshots (their work off the loop) and compact their logs")
    func workloadTakesSnapshots() throws {
        let cluster = try PowerCutSweep(seed: 21, nodeCount: 3).makeCluster()
        defer { cluster.shutdown() }
        PowerCutSweep(seed: 21, nodeCount: 3).runWorkload(cluster)
        #expect(cluster.nodes.contains { ($0.machine?.asyncSnapshots ?? 0) > 0 && ($0.io?.store.snapshotIndex ?? 0) > 0 }, "\(cluster.summary)")
    }

    @Test("the sweeps' workloads put writes that arrive together in one entry, so cuts fall among batch entries too",
          arguments: [(21, nil), (41, 3), (1_001, nil)] as [(UInt64, UInt64?)])
    func workloadBatches(seed: UInt64, lagging: UInt64?) throws {
        var workload = PowerCutSweep(seed: seed, nodeCount: 3)
        workload.lagging = lagging
        let cluster = try workload.makeCluster()
        defer { cluster.shutdown() }
        workload.runWorkload(cluster)
        #expect(cluster.nodes.allSatisfy { $0.batchEntriesApplied > 0 }, "\(cluster.nodes.map(\.batchEntriesApplied)) \(cluster.summary)")
    }

    @Test("the whole cluster of three loses power at each I/O boundary of any node in turn", arguments: sweepSeeds)
    func wholeCluster(seed: UInt64) throws {
        try sweep(PowerCutSweep(seed: 1_000 + seed, nodeCount: 3), nodes: nil, wholeCluster: true)
    }
}
