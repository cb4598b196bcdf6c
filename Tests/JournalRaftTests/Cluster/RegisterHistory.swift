/// The client history of the register workload, and its linearizability
/// check.
///
/// Each written value is unique, so a read names the write it saw, and a
/// register history is linearizable exactly when its "zones" agree (Gibbons
/// and Korach, "Testing shared memories", 1997): for the cluster of one
/// value (its write and the reads that returned it), let `minEnd` be the
/// earliest completion and `maxStart` the latest invocation in it; the
/// cluster's zone is forward, `[minEnd, maxStart]`, when `minEnd < maxStart`,
/// else backward. The history is linearizable iff no read completes before
/// its write is invoked, no two forward zones overlap, and no backward zone
/// lies inside another value's forward zone. Times are event numbers (one
/// clock, strictly increasing), so no two events tie.
struct RegisterHistory {
    enum Kind { case write, read }

    struct Operation {
        var kind: Kind
        var key: UInt8
        /// Written value, or the value read (0: the initial, never written).
        var value: UInt64
        var start: Int
        /// Completion event; nil while pending or when the outcome is unknown.
        var end: Int?
        /// A write that failed for sure, or a read that returned nothing.
        var failed = false
    }

    var operations: [Operation] = []
    private var clock = 0

    mutating func tick() -> Int {
        clock += 1
        return clock
    }

    mutating func invoke(_ kind: Kind, key: UInt8, value: UInt64) -> Int {
        operations.append(Operation(kind: kind, key: key, value: value, start: tick()))
        return operations.count - 1
    }

    mutating func succeed(_ op: Int, value: UInt64? = nil) {
        guard operations[op].end == nil, !operations[op].failed else { return }
        operations[op].end = tick()
        if let value { operations[op].value = value }
    }

    mutating func fail(_ op: Int) {
        guard operations[op].end == nil else { return }
        operations[op].failed = true
    }

    /// Acknowledged writes.
    var acknowledgedWrites: [Operation] { operations.filter { $0.kind == .write && $0.end != nil } }

    /// The first violation of linearizability, or nil.
    func violation() -> String? {
        let keys = Set(operations.map(\.key))
        for key in keys.sorted() {
            if let problem = violation(key: key) { return "key \(key): \(problem)" }
        }
        return nil
    }

    private func violation(key: UInt8) -> String? {
        let ops = operations.filter { $0.key == key && !$0.failed }
        var writes: [UInt64: Operation] = [0: Operation(kind: .write, key: key, value: 0, start: 0, end: 0)]
        for w in ops where w.kind == .write { writes[w.value] = w }
        var clusters: [UInt64: (minEnd: Int, maxStart: Int)] = [:]
        for r in ops where r.kind == .read {
            guard let end = r.end else { continue }
            guard let w = writes[r.value] else { return "a read returned \(r.value), which no one wrote" }
            if end < w.start { return "a read of \(r.value) completed before its write began" }
            let c = clusters[r.value] ?? (w.end ?? Int.max, w.start)
            clusters[r.value] = (min(c.minEnd, end), max(c.maxStart, r.start))
        }
        for (value, w) in writes where clusters[value] == nil && w.end != nil {
            clusters[value] = (w.end ?? Int.max, w.start)
        }
        let forward = clusters.filter { $0.value.minEnd < $0.value.maxStart }.map { ($0.key, $0.value.minEnd, $0.value.maxStart) }
        let backward = clusters.filter { $0.value.minEnd >= $0.value.maxStart }.map { ($0.key, $0.value.maxStart, $0.value.minEnd) }
        for i in forward.indices {
            for j in forward.indices where j > i {
                let (a, b) = (forward[i], forward[j])
                if a.1 < b.2 && b.1 < a.2 { return "the forward zones of \(a.0) and \(b.0) overlap" }
            }
            for z in backward where z.0 != forward[i].0 && forward[i].1 < z.1 && z.2 < forward[i].2 {
                return "the zone of \(z.0) lies inside the forward zone of \(forward[i].0) (a lost or stale write)"
            }
        }
        return nil
    }
}
