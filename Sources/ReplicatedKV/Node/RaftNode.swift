import CRaft
import Journal
import JournalPrimitives
import JournalRaft
import KeyValueStore
import NIOCore

// One raft node on a real loop: the NIO event loop it is given is raft's
// one thread. Raft's callbacks, the transport's connections, the HTTP
// handlers and the tick timer all run there, so nothing here takes a lock.
// The journal runs its own threads; durability completions hop onto the
// loop through a `RaftDurabilityNotifier`, whose wake-up schedules
// `runCompletions()` there.

final class RaftNode: @unchecked Sendable {
    let loop: any EventLoop
    let options: KVServiceOptions
    let stores: NodeStores
    let environment: NodeEnvironment
    let io: JournalRaftIO
    let machine: KVStateMachine
    let raft: UnsafeMutablePointer<raft>
    let transport: RaftTransport
    var notifier: RaftDurabilityNotifier?
    var ticker: RepeatedTask?
    /// Called on the loop when the node must stop (its journal or store
    /// failed): the service exits rather than serve.
    var onFatal: (ReplicatedKVError) -> Void = { _ in }
    /// Called on the loop, once, when the node learns it was removed from
    /// the cluster (NodeRemoval.swift), with how it learned it.
    var onRemoved: (String) -> Void = { _ in }
    var membership: NodeMembership
    var membershipTimer: RepeatedTask?
    /// Gathers the writes that arrive together into one raft entry.
    let batcher: RaftCommandBatcher

    /// Creates and starts raft on `loop`; call from the loop.
    init(loop: any EventLoop, options: KVServiceOptions, stores: NodeStores) throws(ReplicatedKVError) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.options = options
        self.stores = stores
        membership = NodeMembership(wasMember: !options.joining)
        environment = NodeEnvironment(seed: monotonicNanos() ^ options.id)
        io = JournalRaftIO(store: stores.raftStore, environment: environment)
        do { machine = try KVStateMachine(box: stores.kvBox) } catch { throw NodeStores.error(error) }
        transport = RaftTransport(loop: loop, clusterID: options.clusterID, selfID: options.id)
        environment.transport = transport
        let raft = UnsafeMutablePointer<CRaft.raft>.allocate(capacity: 1)
        raft.initialize(to: CRaft.raft())
        self.raft = raft
        batcher = RaftCommandBatcher { payload, complete in RaftRequests.apply(raft, payload, complete) }
        guard raft_init(raft, io.io, machine.fsm, options.id, options.advertisedAddress) == 0 else {
            throw .raft("raft_init: \(String(cString: raft_errmsg(raft)))")
        }
        machine.raft = raft
        machine.installHook = options.installHook
        io.raft = raft
        io.snapshotInstaller = machine
        transport.resolve = { [unowned self] id in member(id)?.raft }
        raft_set_election_timeout(raft, options.electionTimeoutMilliseconds)
        raft_set_heartbeat_timeout(raft, options.heartbeatTimeoutMilliseconds)
        raft_set_snapshot_threshold(raft, options.snapshotThreshold)
        raft_set_snapshot_trailing(raft, options.snapshotTrailing)
        raft_set_pre_vote(raft, true)
        if stores.raftStore.isPristine && !options.joining { try bootstrap() }
        batcher.scheduleFlush = { [weak self, loop, holdsWrites = options.holdsWrites] in
            if holdsWrites { return }
            // Runs after the requests read in this turn of the loop.
            loop.execute { [weak self] in
                guard let self else { return }
                batcher.flush()
                pump()
            }
        }
        let notifier = RaftDurabilityNotifier(journal: stores.journal) { [loop] in
            loop.execute { [weak self] in self?.pump() }
        }
        self.notifier = notifier
        io.durabilityRequested = { notifier.request($0) }
        io.offLoopRunner = OffLoopWork.runner(loop: loop) { [weak self] in self?.pump() }
        let rv = raft_start(raft)
        guard rv == 0 else {
            notifier.stop()
            throw Self.startError(rv, String(cString: raft_errmsg(raft)))
        }
    }

    private static func startError(_ rv: Int32, _ message: String) -> ReplicatedKVError {
        rv == RAFT_CORRUPT ? .corruption("raft_start: \(message)") : .raft("raft_start: \(message) (\(rv))")
    }

    /// Writes the first configuration: every peer a voter.
    private func bootstrap() throws(ReplicatedKVError) {
        var conf = raft_configuration()
        raft_configuration_init(&conf)
        defer { raft_configuration_close(&conf) }
        for member in options.peers.members {
            _ = raft_configuration_add(&conf, member.id, member.address, Int32(RAFT_VOTER))
        }
        let rv = raft_bootstrap(raft, &conf)
        guard rv == 0 else { throw .raft("raft_bootstrap: \(String(cString: raft_errmsg(raft))) (\(rv))") }
    }

    /// Starts the tick timer (on the loop).
    func startTicking() {
        let interval = TimeAmount.milliseconds(Int64(max(options.heartbeatTimeoutMilliseconds / 5, 5)))
        ticker = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            guard let self else { return }
            io.tickIfDue()
            pump()
        }
    }

    /// Closes raft (requests still waiting fail with `RAFT_SHUTDOWN`), its
    /// tick timer and the transport; the future completes on the loop once
    /// raft's close callback has run. The journals stay open for the caller
    /// to close once the durability notifier is stopped.
    func close() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        ticker?.cancel()
        ticker = nil
        membershipTimer?.cancel()
        membershipTimer = nil
        batcher.failPending(RAFT_SHUTDOWN)
        let promise = loop.makePromise(of: Void.self)
        raft.pointee.data = Unmanaged.passRetained(ClosePromise(promise)).toOpaque()
        raft_close(raft) { r in
            guard let data = r?.pointee.data else { return }
            Unmanaged<ClosePromise>.fromOpaque(data).takeRetainedValue().promise.succeed()
        }
        return promise.futureResult.map { [transport] in transport.stop() }
    }

    /// Hands a message from a peer to raft.
    func receive(_ bytes: [UInt8]) {
        io.deliver(bytes)
        pump()
    }

    /// Fires ready completions, then checks for a failure that must stop the node.
    func pump() {
        io.runCompletions()
        if let error = io.stopError {
            onFatal(.store("the raft log's journal failed: \(error)"))
        } else if let failure = machine.failure {
            onFatal(failure)
        }
    }

    var isLeader: Bool { raft_state(raft) == Int32(RAFT_LEADER) }

    /// The leader raft knows of, if any.
    var leaderID: UInt64? {
        var id: raft_id = 0
        var address: UnsafePointer<CChar>?
        raft_leader(raft, &id, &address)
        return id == 0 ? nil : id
    }

    /// Proposes a write, in one entry with the others that arrive with it
    /// (`RaftCommandBatcher`); `complete` runs on the loop with raft's
    /// status and the entry's index once it is applied or failed.
    func propose(_ command: KVCommand, _ complete: @escaping (Int32, UInt64) -> Void) {
        batcher.submit(command.encoded, complete)
    }

    /// A barrier for a linearizable read: `complete` runs once every entry
    /// committed before it is applied.
    func barrier(_ complete: @escaping (Int32, UInt64) -> Void) {
        let rv = RaftRequests.barrier(raft, complete)
        if rv != 0 { complete(rv, 0) }
        pump()
    }
}

/// The promise `raft_close`'s callback completes, carried in `raft.data`.
final class ClosePromise {
    let promise: EventLoopPromise<Void>
    init(_ promise: EventLoopPromise<Void>) { self.promise = promise }
}
