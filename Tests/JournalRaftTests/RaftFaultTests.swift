import CRaft
@_spi(Testing) import Journal
@testable import JournalRaft
import JournalTesting
import Testing

/// Bad input and faults at the log store: the wrong server id, another
/// cluster's store, a full disk, a corrupt journal.
@Suite("Raft log store refusals and faults")
struct RaftFaultTests {
    let identity = RaftStoreIdentity(clusterID: 0xAB, serverID: 2)

    /// Opens the store on `disk` with `identity`, closing the journal when
    /// the store refuses.
    func open(_ disk: SimulatedDisk, _ identity: RaftStoreIdentity, create: Bool = false) throws -> RaftLogStore {
        let journal = try openRaftJournal(on: disk.storage(), create: create)
        do { return try RaftLogStore(journal: journal, snapshotStorage: disk.storage(), identity: identity) } catch {
            journal.close()
            throw error
        }
    }

    @Test("a store refuses another server id or cluster, with typed errors, also after compaction")
    func identityChecked() throws {
        let disk = SimulatedDisk(seed: 31)
        let store = try open(disk, identity, create: true)
        #expect(store.identity == identity && store.isPristine)
        try store.bootstrap(configuration: [1, 2, 3])
        try store.setTerm(3)
        for i in 1...120 { _ = try store.append([RaftLogEntry(term: 3, type: 1, payload: [UInt8](repeating: UInt8(i), count: 500))]) }
        let image = RaftSnapshot(index: 100, term: 3, configuration: [RaftServer(id: 2, address: "n2", role: 1)], configurationIndex: 1, data: [1])
        _ = try store.putSnapshot(image, trailing: 4)
        try drain(store.journal)
        let oldest = store.journal.oldestLSN
        try store.compact()
        #expect(store.journal.oldestLSN > oldest, "compaction released the segment holding the first identity record")
        store.journal.close()

        #expect(throws: RaftLogError.wrongServer(recorded: 2, given: 3)) { try open(disk, RaftStoreIdentity(clusterID: 0xAB, serverID: 3)) }
        #expect(throws: RaftLogError.wrongCluster(recorded: 0xAB, given: 0xCD)) { try open(disk, RaftStoreIdentity(clusterID: 0xCD, serverID: 2)) }
        #expect(RaftLogError.wrongCluster(recorded: 0xAB, given: 0xCD).description.contains("belongs to cluster 00000000000000ab"))
        let reopened = try open(disk, identity)
        #expect(reopened.identity == identity)
        #expect(try reopened.load().term == 3)

        // raft started with another id on the store fails in raft_init.
        final class Quiet: RaftEnvironment {
            var nowMilliseconds: UInt64 { 0 }
            func random(min: Int32, max: Int32) -> Int32 { min }
            func send(from: UInt64, to: UInt64, bytes: [UInt8]) {}
        }
        let io = JournalRaftIO(store: reopened, environment: Quiet())
        let machine = RegisterMachine()
        let r = UnsafeMutablePointer<raft>.allocate(capacity: 1)
        defer { r.deallocate() }
        r.initialize(to: raft())
        #expect(raft_init(r, io.io, machine.fsm, 3, "n3") == RAFT_INVALID)
        #expect(String(cString: raft_errmsg(r)).contains("belongs to server 2, not to server 3"))
        #expect(io.lastError == .wrongServer(recorded: 2, given: 3))
        reopened.journal.close()
    }

    @Test("a node started with the wrong id or on another cluster's store refuses; the cluster goes on")
    func wrongNodeRefused() throws {
        let cluster = try SimCluster.quiet(seed: 41, milliseconds: 1_000)
        defer { cluster.shutdown() }
        let node = cluster.nodes[2]
        node.crash()
        _ = node.disk.reboot()
        let right = node.identity
        node.identity = RaftStoreIdentity(clusterID: right.clusterID, serverID: 1)
        #expect(throws: RaftLogError.wrongServer(recorded: 3, given: 1)) { try node.start() }
        node.identity = RaftStoreIdentity(clusterID: right.clusterID ^ 1, serverID: 3)
        #expect(throws: RaftLogError.wrongCluster(recorded: right.clusterID, given: right.clusterID ^ 1)) { try node.start() }
        node.retired = true
        #expect(cluster.settle() == nil, "two of three go on: \(cluster.summary)")
        #expect(cluster.history.violation() == nil)
    }

    @Test("a full disk stops its node with a typed error; the cluster goes on; once space is freed the node catches up", arguments: [51, 52] as [UInt64])
    func fullDisk(seed: UInt64) throws {
        let cluster = try SimCluster.quiet(seed: seed, milliseconds: 800)
        defer { cluster.shutdown() }
        let leader = cluster.nodes.first { $0.isLeader }
        let node = try #require(leader, "a leader after 800 ms")
        node.space.isFull = true
        let before = cluster.history.acknowledgedWrites.count
        cluster.run(milliseconds: 2_000)
        #expect(cluster.failure == nil)
        #expect(!node.isUp, "the node with the full disk stopped")
        let stop = try #require(node.stopErrors.first)
        guard case .noSpace = stop else {
            Issue.record("stopped by \(stop), not a full disk")
            return
        }
        #expect(stop.description.contains("no space left"))
        #expect(cluster.history.acknowledgedWrites.count > before + 10, "the others went on: \(cluster.summary)")
        node.space.isFull = false
        #expect(cluster.settle() == nil, "\(cluster.summary)")
        #expect(cluster.history.violation() == nil)
    }

    @Test("a node whose journal is corrupt refuses to rejoin with a typed error; a new node replaces it")
    func corruptJournalRefused() throws {
        let cluster = try SimCluster.quiet(seed: 61, milliseconds: 1_500)
        defer { cluster.shutdown() }
        #expect(cluster.settle() == nil)
        let node = cluster.nodes[2]
        node.crash()
        _ = node.disk.reboot()
        let segments = node.disk.durableImage().keys.filter { $0.hasSuffix(JournalFormat.segmentFileSuffix) }.sorted()
        let oldest = try #require(segments.first)
        #expect(segments.count >= 2)
        node.disk.flipBit(file: oldest, offset: JournalFormat.segmentHeaderBytes + 40, bit: 3)
        do {
            try node.start()
            Issue.record("a node with a corrupt journal started")
        } catch let error as RaftLogError {
            #expect(error.isCorruption, "\(error)")
        } catch let error as JournalError {
            guard case .corruption = error else {
                Issue.record("refused with \(error), not as corruption")
                return
            }
        }
        node.retired = true
        cluster.plan = [.join(4), .leave(3)]
        #expect(cluster.settle() == nil, "\(cluster.summary)")
        #expect(cluster.finalVoters() == [1, 2, 4])
        #expect(cluster.history.violation() == nil)
    }

    @Test("a node cut off while the log is compacted catches up through an installed snapshot")
    func laggingNodeGetsSnapshot() throws {
        let cluster = try SimCluster.quiet(seed: 71, milliseconds: 500)
        defer { cluster.shutdown() }
        let follower = cluster.nodes.first { !$0.isLeader }
        let lagging = try #require(follower)
        cluster.network.isolate(lagging.id, among: cluster.ids)
        let before = cluster.history.acknowledgedWrites.count
        cluster.run(milliseconds: 1_500)
        #expect(cluster.history.acknowledgedWrites.count > before + 30, "the log outgrew the snapshot threshold: \(cluster.summary)")
        #expect(cluster.settle() == nil, "\(cluster.summary)")
        #expect(cluster.snapshotsDelivered[lagging.id, default: 0] > 0, "\(cluster.summary)")
        #expect(cluster.history.violation() == nil)
    }
}
