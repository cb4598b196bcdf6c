import CRaft
@_spi(Testing) import Journal
import JournalRaft
import JournalTesting

/// One raft node of the simulated cluster: its own simulated disk (journal
/// and snapshots), and while up a journal, a log store, the raft I/O, the
/// register machine and a `struct raft`. A crash cuts the disk's power
/// (writes in flight survive whole, torn or not at all) and closes raft; a
/// restart recovers everything from the disk.
final class SimNode {
    let id: UInt64
    let disk: SimulatedDisk
    let environment: SimEnvironment
    var journal: Journal?
    var io: JournalRaftIO?
    var raft: UnsafeMutablePointer<raft>?
    var machine: RegisterMachine?
    /// Gathers the clients' writes into entries, as the service does; the
    /// cluster flushes it once per step.
    var batcher: RaftCommandBatcher?
    /// Batch entries applied by this node's machines before their last start.
    var batchEntriesBefore = 0
    var crashes = 0
    /// Removed from the cluster and shut down for good.
    var retired = false
    /// Whether the disk is full (new files fail with `ENOSPC`).
    let space = DiskSpace()
    /// The identity the node opens its store with.
    var identity: RaftStoreIdentity
    /// Set when the node could not start or recover: the test fails.
    var failure: String?
    /// The errors that stopped the node (a full disk, a failed write), in
    /// order: what a real loop would report when it closes raft.
    var stopErrors: [RaftLogError] = []

    init(id: UInt64, seed: UInt64, environment: SimEnvironment) {
        self.id = id
        self.environment = environment
        var faults = SimulatedDisk.Faults()
        faults.crashWholeProbability = 1.0 / 3.0
        faults.crashTornProbability = 1.0 / 3.0
        disk = SimulatedDisk(seed: seed &* 31 &+ id, faults: faults)
        identity = RaftStoreIdentity(clusterID: 0xC1A5_7E00_0000_0000 | seed, serverID: id)
    }

    /// The storage of the disk's current boot, full when `space` says so.
    func storage() -> FullDiskStorage { FullDiskStorage(disk.storage(), space: space) }

    var isUp: Bool { raft != nil }
    /// Batch entries this node applied, over its restarts (after a restart
    /// it applies again what its snapshot does not hold).
    var batchEntriesApplied: Int { batchEntriesBefore + (machine?.batchEntries ?? 0) }
    var address: String { "n\(id)" }

    var isLeader: Bool {
        guard let raft else { return false }
        return raft_state(raft) == Int32(RAFT_LEADER)
    }

    /// Creates the journal and bootstraps the configuration of `ids`; with
    /// none, the node starts empty and waits to be added to a cluster.
    func create(ids: [UInt64]?) throws {
        try createRaftJournal(on: storage())
        try start(bootstrap: ids)
    }

    /// Opens the journal and the store, and starts raft: bootstrapping first
    /// when `bootstrap` is given, forcing the configuration of `recover`
    /// (raft's `raft_recover`) when that is.
    func start(bootstrap: [UInt64]? = nil, recover: [UInt64]? = nil) throws {
        let directory = storage()
        let journal = try openRaftJournal(on: directory, create: false)
        let store: RaftLogStore
        do { store = try RaftLogStore(journal: journal, snapshotStorage: directory, identity: identity) } catch {
            journal.close()
            throw error
        }
        let io = JournalRaftIO(store: store, environment: environment)
        let machine = RegisterMachine()
        let r = UnsafeMutablePointer<raft>.allocate(capacity: 1)
        r.initialize(to: CRaft.raft())
        guard raft_init(r, io.io, machine.fsm, id, address) == 0 else {
            throw RaftLogError.inconsistentLog("raft_init: \(String(cString: raft_errmsg(r)))")
        }
        raft_set_election_timeout(r, 150)
        raft_set_heartbeat_timeout(r, 30)
        raft_set_install_snapshot_timeout(r, 400)
        raft_set_snapshot_threshold(r, 24)
        raft_set_snapshot_trailing(r, 6)
        if let ids = bootstrap ?? recover {
            var conf = Self.configuration(ids)
            defer { raft_configuration_close(&conf) }
            let rv = bootstrap != nil ? raft_bootstrap(r, &conf) : raft_recover(r, &conf)
            guard rv == 0 else {
                throw RaftLogError.inconsistentLog("bootstrap or recover: \(String(cString: raft_errmsg(r)))")
            }
        }
        let rv = raft_start(r)
        guard rv == 0 else {
            let message = String(cString: raft_errmsg(r))
            raft_close(r, nil)
            r.deinitialize(count: 1)
            r.deallocate()
            throw RaftLogError.inconsistentLog("raft_start: \(message) (\(rv))")
        }
        io.raft = r
        batcher = RaftCommandBatcher { payload, complete in RaftRequests.apply(r, payload, complete) }
        self.journal = journal
        self.io = io
        self.machine = machine
        self.raft = r
    }

    /// A configuration of voters `ids` (the caller closes it).
    static func configuration(_ ids: [UInt64]) -> raft_configuration {
        var conf = raft_configuration()
        raft_configuration_init(&conf)
        for other in ids { _ = raft_configuration_add(&conf, other, "n\(other)", Int32(RAFT_VOTER)) }
        return conf
    }

    /// The configuration this node's raft holds (committed or not): id and
    /// role of each server; empty while down.
    var configuration: [(id: UInt64, role: Int32)] {
        guard let raft else { return [] }
        let c = raft.pointee.configuration
        return (0..<Int(c.n)).map { (c.servers[$0].id, c.servers[$0].role) }
    }

    /// Cuts the power and drops the node's memory.
    func crash() {
        guard let raft else { return }
        crashes += 1
        if let error = io?.stopError { stopErrors.append(error) }
        if !disk.isPoweredOff { disk.powerCut() }
        batcher?.failPending(RAFT_SHUTDOWN)
        batcher = nil
        batchEntriesBefore += machine?.batchEntries ?? 0
        raft_close(raft, nil)
        io?.runCompletions()
        io?.raft = nil
        raft.deinitialize(count: 1)
        raft.deallocate()
        self.raft = nil
        journal?.close()
        journal = nil
        io = nil
        machine = nil
    }

    /// Cuts the power after `operations` more I/O operations: in the middle
    /// of whatever the node does then (an append, a term change, a snapshot).
    func cutPower(afterOperations operations: Int) {
        guard isUp, !disk.isPoweredOff else { return }
        disk.cutAfter(ioBoundary: disk.ioCount + operations)
    }

    /// Reboots the disk and recovers.
    func restart() {
        guard !retired else { return }
        _ = disk.reboot()
        do { try start() } catch { failure = "node \(id) did not recover after crash \(crashes): \(error)" }
    }

    /// Lets the disk complete writes (`pumps` rounds), fires completions and
    /// the tick.
    func step(pumps: Int) {
        guard let journal, let io else { return }
        for _ in 0..<pumps {
            do { try journal.pump() } catch {
                io.journalFailed(error)
                break
            }
        }
        io.runCompletions()
        guard isUp else { return }
        io.tickIfDue()
        io.runCompletions()
    }

    func deliver(_ bytes: [UInt8]) {
        guard isUp, let io else { return }
        io.deliver(bytes)
        io.runCompletions()
    }
}
