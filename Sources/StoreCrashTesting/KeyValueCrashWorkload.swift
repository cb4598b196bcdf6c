import Journal
public import KeyValueStore

/// A deterministic key-value workload for crash tests and the crash
/// explorer: batches of puts and deletes generated from a seed, run on a
/// store, and the states a recovery may legally show.
///
/// The contract it checks: after a crash, the store holds exactly the
/// state after some prefix of the batches that is at least as long as the
/// acknowledged prefix (durable batches survive, each batch is all or
/// nothing, and no batch survives without every earlier one).
public struct KeyValueCrashWorkload: Sendable {
    public let seed: UInt64
    public let batches: [[KeyValueOperation]]
    /// Checkpoint after this many batches, if set (crashes then land in a
    /// checkpoint too).
    public var checkpointAfterBatches: Int?

    /// What happened in a run.
    public struct Outcome: Sendable {
        /// Batches handed to the store (queued, perhaps not durable).
        public var issued = 0
        /// Batches acknowledged durable: always a prefix.
        public var acknowledged = 0
        /// The error that stopped the run, if any (a power cut shows here).
        public var error: KeyValueError?

        public init() {}
    }

    /// `batchCount` batches of 1 to `operationsPerBatchMax` operations on
    /// keys `k0`...`k(keySpace-1)`, values of 1 to `valueBytesMax` bytes.
    public init(seed: UInt64, batchCount: Int, operationsPerBatchMax: Int = 4, keySpace: Int = 64, valueBytesMax: Int = 120) {
        self.init(
            seed: seed,
            shape: KeyValueBatchShape(
                batchCount: batchCount, operationsPerBatchMax: operationsPerBatchMax, keySpace: keySpace, valueBytesMax: valueBytesMax))
    }

    /// The batches of `seed` in `shape`.
    public init(seed: UInt64, shape: KeyValueBatchShape) {
        self.seed = seed
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &+ 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var batches: [[KeyValueOperation]] = []
        for b in 0..<shape.batchCount {
            let n = 1 + Int(next() % UInt64(shape.operationsPerBatchMax))
            var ops: [KeyValueOperation] = []
            for o in 0..<n {
                let key = Array("k\(next() % UInt64(shape.keySpace))".utf8)
                if next() % 5 == 0 {
                    ops.append(.delete(key: key))
                } else {
                    let length = 1 + Int(next() % UInt64(shape.valueBytesMax))
                    let fill = UInt8(truncatingIfNeeded: b &* 31 &+ o)
                    ops.append(.put(key: key, value: [UInt8](repeating: fill, count: length)))
                }
            }
            batches.append(ops)
        }
        self.batches = batches
    }

    /// Runs the batches in order: each is queued with `writeLazy`, and every
    /// `durableEvery`-th (and the last) is waited for, so batches share
    /// journal writes. With `groupSize` above 1, that many consecutive
    /// batches at a time are queued as one write group
    /// (`writeLazy(batches:)`). Stops at the first error.
    public func run(on store: KeyValueStore, durableEvery: Int = 3, groupSize: Int = 1) -> Outcome {
        precondition(durableEvery >= 1 && groupSize >= 1)
        var outcome = Outcome()
        do throws(KeyValueError) {
            var i = 0
            while i < batches.count {
                let group = Array(batches[i..<min(batches.count, i + groupSize)])
                let results = group.count == 1 ? [Result { () throws(KeyValueError) in try store.writeLazy(group[0]) }] : store.writeLazy(batches: group)
                // Batches after one that failed may have applied (a group
                // fails no batch for another's sake): all count as issued.
                if let last = results.lastIndex(where: { if case .success = $0 { true } else { false } }) {
                    outcome.issued = i + last + 1
                }
                for result in results {
                    let lsn = try result.get()
                    if (i + 1) % durableEvery == 0 || i + 1 == batches.count {
                        try store.waitUntilDurable(lsn)
                        outcome.acknowledged = i + 1
                    }
                    if let c = checkpointAfterBatches, c == i + 1 {
                        try store.checkpoint()
                    }
                    i += 1
                }
            }
        } catch {
            outcome.error = error
        }
        return outcome
    }

    /// The contents after the first `count` batches.
    public func state(afterBatches count: Int) -> [[UInt8]: [UInt8]] {
        var model: [[UInt8]: [UInt8]] = [:]
        for batch in batches.prefix(count) { Self.apply(batch, to: &model) }
        return model
    }

    /// Applies `operations` to a dictionary, as the store does.
    public static func apply(_ operations: [KeyValueOperation], to model: inout [[UInt8]: [UInt8]]) {
        for op in operations {
            switch op {
            case .put(let k, let v): model[k] = v
            case .delete(let k): model[k] = nil
            }
        }
    }

    /// The prefix length in `outcome.acknowledged...outcome.issued` whose
    /// state equals `contents`, or nil: a broken guarantee.
    public func matchingPrefix(_ contents: [[UInt8]: [UInt8]], outcome: Outcome) -> Int? {
        var model = state(afterBatches: outcome.acknowledged)
        if model == contents { return outcome.acknowledged }
        for k in outcome.acknowledged..<outcome.issued {
            Self.apply(batches[k], to: &model)
            if model == contents { return k + 1 }
        }
        return nil
    }
}

extension KeyValueStore {
    /// Every pair as a dictionary (one snapshot).
    public func contents() throws(KeyValueError) -> [[UInt8]: [UInt8]] {
        var out: [[UInt8]: [UInt8]] = [:]
        try scan { k, v in
            out[k] = v
            return true
        }
        return out
    }
}
