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
        for node in members where !node.isUp { node.restart() }
        if let failure { return failure }
        let deadline = clock.nowMilliseconds + millisecondsMax
        // A write then a read of each key, one at a time, each retried until
        // it succeeds: the healed cluster must make progress.
        var finals: [Int] = []
        let wanted = 2 * Int(keys)
        while clock.nowMilliseconds < deadline {
            step()
            // A power cut scheduled before the faults ended may still come.
            for node in members where !node.isUp { node.restart() }
            if let failure { return failure }
            if let last = finals.last, history.operations[last].failed || clients[0] == nil && history.operations[last].end == nil {
                finals.removeLast() // failed or abandoned: again
            }
            let idle = finals.last.map { history.operations[$0].end != nil } ?? true
            if finals.count < wanted, idle, clients.allSatisfy({ $0 == nil }), let leader = nodes.first(where: \.isLeader) {
                let key = UInt8(finals.count / 2)
                let op: Int
                if finals.count % 2 == 0 {
                    op = write(key: key, value: nextValue, on: leader)
                    nextValue += 1
                } else {
                    op = read(key: key, on: leader)
                }
                clients[0] = (op, clock.nowMilliseconds)
                finals.append(op)
                continue
            }
            if finals.count == wanted && idle && plan.isEmpty && missingWrites().isEmpty { return nil }
        }
        return "no settled cluster after \(millisecondsMax) ms: \(finals.count) of \(wanted) final operations, "
            + "plan left \(plan), missing \(missingWrites().prefix(5))"
    }

    /// Acknowledged writes some node has not applied: (node, value).
    func missingWrites() -> [(UInt64, UInt64)] {
        var missing: [(UInt64, UInt64)] = []
        for node in members {
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
            + "messages \(network.sent) (\(network.dropped) dropped, \(strayMessages.count) stray), "
            + "snapshots installed \(snapshotsDelivered.values.reduce(0, +)), membership requests \(changeRequests) "
            + "(\(changeFailures) failed), plan left \(plan), \(clock.nowMilliseconds) ms"
    }
}
