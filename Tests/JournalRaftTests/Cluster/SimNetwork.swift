import JournalRaft
import JournalTesting

/// The network of the simulated cluster: each message is lost with some
/// probability or delivered after a random delay (so messages reorder);
/// partitions cut links both ways. Deterministic from its seed.
final class SimNetwork {
    struct Message {
        var deliverAtMilliseconds: UInt64
        var sequence: Int
        var from: UInt64
        var to: UInt64
        var bytes: [UInt8]
    }

    var random: SimulationRandom
    var lossProbability = 0.0
    var delayMillisecondsMax = 10
    /// Unordered pairs of node ids that cannot talk.
    var cut: Set<[UInt64]> = []
    var inFlight: [Message] = []
    var sequence = 0
    var sent = 0
    var dropped = 0

    init(seed: UInt64) {
        random = SimulationRandom(seed: seed, stream: 2)
    }

    func isCut(_ a: UInt64, _ b: UInt64) -> Bool { cut.contains([min(a, b), max(a, b)]) }

    /// Isolates `node` from every other of `ids`.
    func isolate(_ node: UInt64, among ids: [UInt64]) {
        for other in ids where other != node { cut.insert([min(node, other), max(node, other)]) }
    }

    func heal() { cut.removeAll() }

    func send(from: UInt64, to: UInt64, bytes: [UInt8], now: UInt64) {
        sent += 1
        if isCut(from, to) || random.chance(lossProbability) {
            dropped += 1
            return
        }
        sequence += 1
        let delay = UInt64(random.int(in: 1...delayMillisecondsMax))
        inFlight.append(Message(deliverAtMilliseconds: now + delay, sequence: sequence, from: from, to: to, bytes: bytes))
    }

    /// Removes and returns the messages due by `now`, in delivery order.
    /// One pass, and none when nothing is due (most steps): the cluster
    /// asks at every step of every seed.
    func due(now: UInt64) -> [Message] {
        guard inFlight.contains(where: { $0.deliverAtMilliseconds <= now }) else { return [] }
        var ready: [Message] = []
        var later: [Message] = []
        for message in inFlight {
            if message.deliverAtMilliseconds <= now { ready.append(message) } else { later.append(message) }
        }
        inFlight = later
        return ready.sorted { ($0.deliverAtMilliseconds, $0.sequence) < ($1.deliverAtMilliseconds, $1.sequence) }
    }
}

/// One node's view of the simulated clock, randomness and network.
final class SimEnvironment: RaftEnvironment {
    let id: UInt64
    let network: SimNetwork
    let clock: SimClock
    var random: SimulationRandom

    init(id: UInt64, seed: UInt64, network: SimNetwork, clock: SimClock) {
        self.id = id
        self.network = network
        self.clock = clock
        random = SimulationRandom(seed: seed, stream: 100 + id)
    }

    var nowMilliseconds: UInt64 { clock.nowMilliseconds }

    func random(min: Int32, max: Int32) -> Int32 {
        Int32(random.int(in: Int(min)...Int(max)))
    }

    func send(from: UInt64, to: UInt64, bytes: [UInt8]) {
        network.send(from: from, to: to, bytes: bytes, now: clock.nowMilliseconds)
    }
}

/// The cluster's one clock, in milliseconds.
final class SimClock {
    var nowMilliseconds: UInt64 = 1_000
}
