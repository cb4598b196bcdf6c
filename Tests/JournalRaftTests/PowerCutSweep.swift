/// Power cuts at every I/O boundary of a fixed short workload, in turn.
///
/// The workload is a quiet cluster (no loss, no random faults) whose clients
/// write and read for `workloadMilliseconds`. A dry run counts the I/O
/// boundaries each node's disk passes during it; then, for each boundary `k`
/// of the chosen node, the same workload (deterministic from the seed, so
/// identical up to the cut) runs again with that disk's power cut right
/// after `k` — and, in the whole-cluster mode, every other disk's at the
/// same instant. The cut nodes stay down until the workload ends; then
/// every node restarts, the cluster settles, and the checks are those of
/// the fault test: every acknowledged write is applied on every node and
/// the history is linearizable.
struct PowerCutSweep {
    let seed: UInt64
    let nodeCount: Int
    var workloadMilliseconds: UInt64 = 700
    /// A node cut off from the others for the first part of the workload,
    /// so that it catches up afterwards by installing a snapshot.
    var lagging: UInt64?

    /// The quiet cluster of the workload.
    func makeCluster() throws -> SimCluster {
        try SimCluster.quiet(seed: seed, nodeCount: nodeCount)
    }

    /// Runs the workload: with a lagging node, it is isolated for the first
    /// 600 ms and then, 100 ms at a time (at most `laggingExtraMillisecondsMax`
    /// more), until every other node has compacted its log past the lagging
    /// node's (writes arriving together share entries, so how many entries
    /// 600 ms of writes make depends on the seed); then it rejoins. The
    /// check reads only the isolated others, so a cut of the lagging node
    /// leaves this schedule as it was in the dry run.
    func runWorkload(_ cluster: SimCluster) {
        guard let lagging else { return cluster.run(milliseconds: workloadMilliseconds) }
        cluster.network.isolate(lagging, among: cluster.ids)
        let behind = cluster.nodes.first { $0.id == lagging }?.io?.store.nextIndex ?? 1
        cluster.run(milliseconds: 600)
        var extraMilliseconds: UInt64 = 0
        while extraMilliseconds < Self.laggingExtraMillisecondsMax
            && !othersCompactedPast(behind, lagging: lagging, in: cluster) {
            cluster.run(milliseconds: 100)
            extraMilliseconds += 100
        }
        cluster.network.heal()
        cluster.run(milliseconds: workloadMilliseconds)
    }

    /// Most simulated time the lagging node stays isolated beyond 600 ms.
    static let laggingExtraMillisecondsMax: UInt64 = 3_000

    /// Whether every node but `lagging` took a snapshot far enough past
    /// `index` that its log, which keeps 6 entries before a snapshot
    /// (`raft_set_snapshot_trailing` in `SimNode`), no longer holds it.
    private func othersCompactedPast(_ index: UInt64, lagging: UInt64, in cluster: SimCluster) -> Bool {
        cluster.nodes.filter { $0.id != lagging }.allSatisfy { ($0.io?.store.snapshotIndex ?? 0) > index + 6 }
    }

    /// Per node id, the I/O boundaries its disk passes during the workload.
    func boundaries() throws -> [UInt64: ClosedRange<Int>] {
        let cluster = try makeCluster()
        defer { cluster.shutdown() }
        let first = Dictionary(uniqueKeysWithValues: cluster.nodes.map { ($0.id, $0.disk.ioCount + 1) })
        runWorkload(cluster)
        var result: [UInt64: ClosedRange<Int>] = [:]
        for node in cluster.nodes where node.disk.ioCount >= first[node.id]! {
            result[node.id] = first[node.id]!...node.disk.ioCount
        }
        return result
    }

    /// Runs the workload with node `id`'s power cut after `boundary` (every
    /// node's at that instant when `wholeCluster`); returns a violation or
    /// nil, and the number of acknowledged writes.
    func cut(node id: UInt64, after boundary: Int, wholeCluster: Bool) throws -> (violation: String?, acknowledged: Int) {
        let cluster = try makeCluster()
        defer { cluster.shutdown() }
        cluster.cutsWholeCluster = wholeCluster
        guard let node = cluster.nodes.first(where: { $0.id == id }) else { return ("no node \(id)", 0) }
        node.disk.cutAfter(ioBoundary: boundary)
        runWorkload(cluster)
        let place = "node \(id) cut after boundary \(boundary)\(wholeCluster ? " with the whole cluster" : "")"
        if let failure = cluster.failure { return ("\(place): \(failure)", 0) }
        if node.crashes == 0 { return ("\(place): the cut never came", 0) }
        if let problem = cluster.settle() { return ("\(place): \(problem); \(cluster.summary)", 0) }
        if let problem = cluster.history.violation() { return ("\(place): \(problem); \(cluster.summary)", 0) }
        return (nil, cluster.history.acknowledgedWrites.count)
    }
}
