import CRaft
import JournalRaft
import JournalTesting

/// Three or five raft nodes (and those added later) in one process, driven step by step on one thread under
/// one seed: a simulated clock, network and disks; clients writing unique
/// values to single-key registers and reading them through raft's barrier;
/// faults (message loss, reordering, partitions, crashes with power cuts,
/// restarts) chosen by the seed.
final class SimCluster {
    let seed: UInt64
    var random: SimulationRandom
    let clock = SimClock()
    let network: SimNetwork
    var nodes: [SimNode] = []
    var history = RegisterHistory()
    /// Per client: the operation it waits for and when it began (ms).
    var clients: [(op: Int, since: UInt64)?]
    var nextValue: UInt64 = 1
    let keys: UInt8 = 3
    var faults = true
    /// Messages addressed to no node of the cluster: canonical raft 0.15
    /// answers an installed snapshot from the follower state's leader id
    /// even after the node became candidate. Dropped, and counted.
    var strayMessages: [String] = []
    /// Most journal pump rounds a node gets per step: a slow disk leaves
    /// appends in flight for longer, so more are lost at a power cut.
    var pumpsMax = 2
    /// Per node: until when (ms) its disk completes nothing (a slow sync).
    var stalledUntil: [UInt64: UInt64] = [:]
    /// Whether clients start new operations.
    var clientsActive = true
    /// Whether a power cut of one node cuts every node at once.
    var cutsWholeCluster = false
    /// Install-snapshot messages delivered to each node that was up.
    var snapshotsDelivered: [UInt64: Int] = [:]
    /// Membership changes still to make, in order, and the request in flight.
    var plan: [MembershipStep] = []
    var change: (generation: Int, sinceMilliseconds: UInt64, leader: UInt64)?
    var changeGeneration = 0
    /// When the plan may start (ms on the cluster's clock).
    var planStartMilliseconds: UInt64 = 0
    /// Membership requests made, and how many raft refused or failed.
    var changeRequests = 0
    var changeFailures = 0

    init(seed: UInt64, nodeCount: Int = 3, clientCount: Int = 3) throws {
        self.seed = seed
        random = SimulationRandom(seed: seed, stream: 3)
        network = SimNetwork(seed: seed)
        network.lossProbability = [0, 0.02, 0.1][random.below(3)]
        network.delayMillisecondsMax = random.int(in: 1...20)
        pumpsMax = random.int(in: 1...2)
        clients = Array(repeating: nil, count: clientCount)
        let ids = (1...UInt64(nodeCount)).map { $0 }
        for id in ids { try addNode(id: id, bootstrap: ids) }
    }

    /// A cluster without faults (no loss, crashes or partitions) that runs
    /// for `milliseconds` first.
    static func quiet(seed: UInt64, nodeCount: Int = 3, milliseconds: UInt64 = 0) throws -> SimCluster {
        let cluster = try SimCluster(seed: seed, nodeCount: nodeCount)
        cluster.faults = false
        cluster.network.lossProbability = 0
        cluster.run(milliseconds: milliseconds)
        return cluster
    }

    /// A new node on a new disk: bootstrapped with `bootstrap`, or empty,
    /// waiting to be added to the cluster.
    @discardableResult
    func addNode(id: UInt64, bootstrap: [UInt64]?) throws -> SimNode {
        let node = SimNode(id: id, seed: seed, environment: SimEnvironment(id: id, seed: seed, network: network, clock: clock))
        try node.create(ids: bootstrap)
        nodes.append(node)
        return node
    }

    var ids: [UInt64] { nodes.map(\.id) }
    /// The nodes not removed from the cluster for good.
    /// Asked several times per step: without a copy while no node is
    /// retired (most runs).
    var members: [SimNode] {
        for node in nodes where node.retired { return nodes.filter { !$0.retired } }
        return nodes
    }
    var failure: String? { nodes.compactMap(\.failure).first }

    /// Advances the clock a few milliseconds and lets everything due happen.
    func step() {
        clock.nowMilliseconds += UInt64(random.int(in: 1...4))
        for message in network.due(now: clock.nowMilliseconds) {
            guard let node = nodes.first(where: { $0.id == message.to }) else {
                strayMessages.append("from \(message.from) to \(message.to), type \(message.bytes.first ?? 0)")
                continue
            }
            if message.bytes.first == UInt8(RAFT_IO_INSTALL_SNAPSHOT) && node.isUp { snapshotsDelivered[node.id, default: 0] += 1 }
            node.deliver(message.bytes)
            checkPower(node)
        }
        var order = members
        random.shuffle(&order)
        for node in order {
            let stalled = (stalledUntil[node.id] ?? 0) > clock.nowMilliseconds
            node.step(pumps: stalled || random.chance(0.5) ? 0 : random.int(in: 1...pumpsMax))
            checkPower(node)
        }
        if faults { injectFault() }
        driveMembership()
        runClients()
        for node in members { node.batcher?.flush() }
        // Client requests and membership changes write on the leader.
        for node in members { checkPower(node) }
    }

    /// After `node` acted: if its power went in the middle of an operation
    /// (or its journal failed) it is down; with `cutsWholeCluster`, every
    /// other node loses power at that instant too (each between two of its
    /// I/O operations). Only a node's own actions touch its disk.
    func checkPower(_ node: SimNode) {
        guard node.isUp, node.io?.hasFailed == true || node.disk.isPoweredOff else { return }
        node.crash()
        if cutsWholeCluster {
            for other in members where other.isUp { other.crash() }
        }
    }

    /// Closes every raft that is up (their requests complete, their memory
    /// goes); the cluster is unusable afterwards.
    func shutdown() {
        for node in nodes where node.isUp { node.crash() }
    }

    func run(milliseconds: UInt64) {
        let end = clock.nowMilliseconds + milliseconds
        while clock.nowMilliseconds < end && failure == nil { step() }
    }

    private func injectFault() {
        let roll = random.below(10_000)
        let live = members
        let node = live[random.below(live.count)]
        switch roll {
        case 0..<30:
            if node.isUp && live.filter(\.isUp).count > 1 {
                if random.chance(0.5) { node.crash() } else { node.cutPower(afterOperations: random.int(in: 1...40)) }
            }
        case 30..<150:
            if !node.isUp { node.restart() }
        case 150..<180:
            network.isolate(node.id, among: ids)
        case 180..<250:
            network.heal()
        case 250..<262:
            // Every node loses power at once.
            for n in live { n.crash() }
        case 262..<400:
            stalledUntil[node.id] = clock.nowMilliseconds + UInt64(random.int(in: 20...300))
        default:
            break
        }
    }

    // MARK: Clients

    private func runClients() {
        for c in clients.indices {
            if let pending = clients[c] {
                if history.operations[pending.op].end != nil || history.operations[pending.op].failed {
                    clients[c] = nil
                } else if clock.nowMilliseconds - pending.since > 1_000 {
                    clients[c] = nil // abandoned: the outcome stays unknown
                }
                continue
            }
            guard clientsActive, random.chance(0.3), let leader = nodes.first(where: \.isLeader) else { continue }
            let key = UInt8(random.below(Int(keys)))
            if random.chance(0.5) {
                let value = nextValue
                nextValue += 1
                clients[c] = (write(key: key, value: value, on: leader), clock.nowMilliseconds)
            } else {
                clients[c] = (read(key: key, on: leader), clock.nowMilliseconds)
            }
        }
    }

    /// Queues a write of `value` to register `key` on `node`'s batcher
    /// (proposed with the step's other writes, in one entry when several).
    func write(key: UInt8, value: UInt64, on node: SimNode) -> Int {
        let op = history.invoke(.write, key: key, value: value)
        guard let batcher = node.batcher else { history.fail(op); return op }
        batcher.submit(RegisterMachine.command(key: key, value: value)) { [weak self] status, index in
            // Index 0: the command never entered the log. Any failure after
            // that leaves the outcome unknown: the entry may still commit.
            if status == 0 {
                self?.history.succeed(op)
            } else if index == 0 {
                self?.history.fail(op)
            }
        }
        return op
    }

    func read(key: UInt8, on node: SimNode) -> Int {
        let op = history.invoke(.read, key: key, value: 0)
        guard let raft = node.raft else { history.fail(op); return op }
        let rv = RaftRequests.barrier(raft) { [weak self, weak node] status, _ in
            guard let self else { return }
            if status == 0, let machine = node?.machine {
                history.succeed(op, value: machine.values[key] ?? 0)
            } else {
                history.fail(op)
            }
        }
        if rv != 0 { history.fail(op) }
        return op
    }
}
