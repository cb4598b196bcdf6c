import Glibc
import Testing

/// Every how many boundaries the sweep cuts: 1 (every one) by default;
/// `RAFT_SWEEP_STRIDE` makes it sparser.
let sweepStride = max(1, getenv("RAFT_SWEEP_STRIDE").flatMap { Int(String(cString: $0)) } ?? 1)

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

    @Test("one node of three loses power at each of its I/O boundaries in turn")
    func oneNode() throws {
        try sweep(PowerCutSweep(seed: 21, nodeCount: 3), nodes: [1], wholeCluster: false)
    }

    @Test("the whole cluster of three loses power at each I/O boundary of any node in turn")
    func wholeCluster() throws {
        try sweep(PowerCutSweep(seed: 22, nodeCount: 3), nodes: nil, wholeCluster: true)
    }
}
