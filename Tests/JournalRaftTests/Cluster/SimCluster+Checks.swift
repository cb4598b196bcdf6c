import CRaft
import JournalRaft

extension SimCluster {
    /// Ends the faults: heals the network, restarts every node, stops loss;
    /// then reads every key through the leader and waits until every node
    /// has applied every acknowledged write. Returns a failure, or nil.
    func settle(millisecondsMax: UInt64 = 20_000) -> String? {
        faults = false
        clientsActive = false
        network.heal()
        network.lossProbability = 0
        for node in nodes where !node.isUp { node.restart() }
        if let failure { return failure }
        let deadline = clock.nowMilliseconds + millisecondsMax
        var finalReads: [Int] = []
        while clock.nowMilliseconds < deadline {
            step()
            if let failure { return failure }
            if finalReads.count < Int(keys), clients.allSatisfy({ $0 == nil }), let leader = nodes.first(where: \.isLeader) {
                let op = read(key: UInt8(finalReads.count), on: leader)
                clients[0] = (op, clock.nowMilliseconds)
                finalReads.append(op)
                continue
            }
            let readsDone = finalReads.count == Int(keys) && finalReads.allSatisfy { history.operations[$0].end != nil }
            if readsDone && missingWrites().isEmpty { return nil }
            // A final read that failed (leadership moved) is retried.
            if let last = finalReads.last, history.operations[last].failed { finalReads.removeLast() }
        }
        return "no settled cluster after \(millisecondsMax) ms: final reads \(finalReads.map { history.operations[$0].end != nil }), missing \(missingWrites().prefix(5))"
    }

    /// Acknowledged writes some node has not applied: (node, value).
    func missingWrites() -> [(UInt64, UInt64)] {
        var missing: [(UInt64, UInt64)] = []
        for node in nodes {
            guard let machine = node.machine else { continue }
            for w in history.acknowledgedWrites where !machine.applied.contains(w.value) { missing.append((node.id, w.value)) }
        }
        return missing
    }

    /// A one-line account of the run.
    var summary: String {
        let ops = history.operations
        return "seed \(seed): \(ops.count) operations, \(history.acknowledgedWrites.count) acknowledged writes, "
            + "\(ops.filter { $0.kind == .read && $0.end != nil }.count) reads, crashes \(nodes.map(\.crashes)), "
            + "messages \(network.sent) (\(network.dropped) dropped), \(clock.nowMilliseconds) ms"
    }
}
