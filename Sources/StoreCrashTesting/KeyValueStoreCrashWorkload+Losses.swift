import JournalTesting
import Journal

// Which losses of acknowledged batches the key-value workload tolerates
// under damage at rest: the journal workload's rule
// (`JournalCrashWorkload.lossIsIndistinguishable`), applied to the store's
// commits. The store recovers by replaying its journal after its snapshot,
// so a loss of acknowledged batches is the journal cutting its log before
// the first lost batch's commit. The journal may do so only where it cannot
// tell the damage from a torn write (journal-format.md, section 7): when no
// acknowledged record after that commit carries a committedLSN at or above
// the commit's LSN. Such a record was encoded after the lost commit was
// durable and lies on disk, so it proves the commit was acknowledged and
// recovery must report corruption instead.

extension KeyValueStoreCrashWorkload.Model {
    /// Marks the batches up to `count` acknowledged, with the writes
    /// misdirected so far.
    mutating func acknowledge(through count: Int, misdirected: Int) {
        while misdirectedAtAck.count < count { misdirectedAtAck.append(misdirected) }
        outcome.acknowledged = max(outcome.acknowledged, count)
    }
}

extension KeyValueStoreCrashWorkload {
    /// A recovery whose contents are the state after a shorter prefix than
    /// acknowledged: tolerated when some such prefix's loss is one the
    /// journal cannot tell from a torn write, else a violation naming the
    /// proof. Nil when the contents are the state after no shorter prefix.
    func checkLoss(_ state: State, model: Model, damage: String) -> CrashFinding? {
        let acknowledged = model.outcome.acknowledged
        let prefixes = model.workload.prefixes(matching: state.contents, below: acknowledged)
        guard let longest = prefixes.last else { return nil }
        let what = "acknowledged batches \(longest + 1)...\(acknowledged) lost"
        guard profile.damagesDataAtRest else { return CrashFinding(.violation, what + damage) }
        if model.damageOutsideJournal {
            return CrashFinding(.violation, what + ", though the damage hit no journal segment" + damage)
        }
        // The longest prefix loses the fewest batches; any prefix whose loss
        // is indistinguishable makes the contents a possible cut.
        if prefixes.contains(where: { proof(ofLosingFrom: $0, model: model) == nil }) {
            return CrashFinding(.tolerated, what + damage)
        }
        let p = proof(ofLosingFrom: longest, model: model) ?? ""
        return CrashFinding(.violation, what + ", though " + p + damage)
    }

    /// Why losing the acknowledged batches from batch index `first` on
    /// (0-based) is not a cut recovery may make, or nil when it may:
    /// 1. the first lost batch's commit has no known LSN (its write failed:
    ///    nothing to prove);
    /// 2. no acknowledged batch after it was handed to the store once its
    ///    commit was durable (`committedAtLeast` is a lower bound of the
    ///    committedLSN on disk, so a proof it shows is certain; one it
    ///    misses lets a loss pass, never the reverse);
    /// 3. or, under misdirected writes, a write went astray after the first
    ///    lost batch was acknowledged: the proof itself may have landed
    ///    elsewhere or been overwritten.
    /// A single bit flip damages one fragment, so it cannot both hit the
    /// lost commit and erase the proof.
    public func proof(ofLosingFrom first: Int, model: Model) -> String? {
        let acknowledged = model.outcome.acknowledged
        guard first < acknowledged, first < model.lsns.count else { return nil }
        let lost = model.lsns[first]
        guard lost > 0 else { return nil }
        let upTo = min(acknowledged, model.lsns.count, model.committedAtLeast.count)
        guard let b = (first..<upTo).first(where: { model.lsns[$0] > lost && model.committedAtLeast[$0] >= lost }) else { return nil }
        if profile == .misdirectedWrites, first < model.misdirectedAtAck.count,
           model.misdirectedTotal > model.misdirectedAtAck[first] {
            return nil
        }
        return "acknowledged batch \(b + 1) (LSN \(model.lsns[b])) was committed after LSN \(lost) of batch \(first + 1) was durable"
    }
}

extension KeyValueCrashWorkload {
    /// The prefix lengths below `limit` whose state equals `contents`, in
    /// increasing order.
    public func prefixes(matching contents: [[UInt8]: [UInt8]], below limit: Int) -> [Int] {
        var model: [[UInt8]: [UInt8]] = [:]
        var found: [Int] = []
        for k in 0..<max(0, min(limit, batches.count + 1)) {
            if k > 0 { Self.apply(batches[k - 1], to: &model) }
            if model == contents { found.append(k) }
        }
        return found
    }
}
