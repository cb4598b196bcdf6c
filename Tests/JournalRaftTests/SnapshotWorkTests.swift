import CRaft
import JournalRaft
import Testing

/// Jobs a test holds instead of running them off the loop, to run later.
final class HeldJobs {
    var jobs: [@Sendable () -> Void] = []

    /// A runner for `JournalRaftIO.offLoopRunner` that only queues.
    var runner: (@escaping @Sendable () -> Void) -> Void { { [unowned self] job in jobs.append(job) } }

    /// Runs what is held, as another thread would.
    func release() {
        let held = jobs
        jobs.removeAll()
        for job in held { job() }
    }
}

@Suite("Raft snapshots: the work off the loop, the journal behind them")
struct SnapshotWorkTests {
    @Test("while a node's snapshot work is held off the loop, raft goes on committing and answering; once it runs, the snapshot completes")
    func loopGoesOnDuringSnapshotWork() throws {
        let cluster = try SimCluster.quiet(seed: 5)
        let held = HeldJobs()
        defer {
            held.release()
            cluster.shutdown()
        }
        for node in cluster.nodes { node.io?.offLoopRunner = held.runner }
        // Until some node has started a snapshot: its work is held.
        var steps = 0
        while held.jobs.isEmpty && steps < 20_000 {
            cluster.step()
            steps += 1
        }
        let taking = try #require(cluster.nodes.first { $0.io?.hasOffLoopWork == true }, "no snapshot started: \(cluster.summary)")
        let snapshotIndex = try #require(taking.io).store.snapshotIndex
        let acknowledged = cluster.history.acknowledgedWrites.count
        let applied = taking.machine?.applied.count ?? 0
        cluster.run(milliseconds: 1_500)
        // The work never ran, yet the node applied more and the cluster,
        // this node included, acknowledged more writes.
        #expect(taking.io?.hasOffLoopWork == true)
        #expect(taking.io?.store.snapshotIndex == snapshotIndex, "no snapshot completed while its work was held")
        #expect(cluster.history.acknowledgedWrites.count > acknowledged + 20, "\(cluster.summary)")
        #expect((taking.machine?.applied.count ?? 0) > applied + 20, "the node applied entries meanwhile")
        // Running the work (snapshot_async, then the file write) completes it.
        for _ in 0..<200 where taking.io?.store.snapshotIndex == snapshotIndex {
            held.release()
            cluster.step()
        }
        #expect((taking.io?.store.snapshotIndex ?? 0) > snapshotIndex, "\(cluster.summary)")
        #expect((taking.machine?.asyncSnapshots ?? 0) > 0)
        for node in cluster.nodes { node.io?.offLoopRunner = nil }
        held.release()
        #expect(cluster.settle() == nil, "\(cluster.summary)")
        #expect(cluster.history.violation() == nil)
    }

    @Test("over a long run of writes, snapshots keep each node's raft journal to a few segments")
    func journalStaysBounded() throws {
        let cluster = try SimCluster.quiet(seed: 9)
        defer { cluster.shutdown() }
        var segmentsMax = 0
        for _ in 0..<40 {
            cluster.run(milliseconds: 500)
            for node in cluster.nodes {
                let segments = try node.disk.storage().fileNames().filter { $0.hasSuffix(".seg") }.count
                segmentsMax = max(segmentsMax, segments)
            }
        }
        let writes = cluster.history.acknowledgedWrites.count
        #expect(writes > 800, "\(cluster.summary)")
        #expect(segmentsMax <= 6, "\(segmentsMax) segments retained after \(writes) writes")
        for node in cluster.nodes {
            let store = try #require(node.io?.store)
            let journal = try #require(node.journal)
            // Every write is an entry record (reads add barriers): without
            // compaction the journal would hold them all.
            let retained = journal.durableLSN - journal.oldestLSN + 1
            #expect(journal.durableLSN > UInt64(writes), "node \(node.id)")
            #expect(retained * 2 < journal.durableLSN, "node \(node.id) keeps \(retained) of \(journal.durableLSN) records")
            #expect(store.snapshotIndex > UInt64(writes / 2), "node \(node.id) snapshots as it goes")
        }
        #expect(cluster.history.violation() == nil)
    }
}
