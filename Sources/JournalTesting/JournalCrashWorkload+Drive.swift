@_spi(Testing) import Journal
import JournalStorage

// One writer session of the journal's crash workload: the appenders' enqueues,
// blocking appends, pumps and truncations, interleaved by the run's seed.

extension JournalCrashWorkload {
    func drive(
        _ journal: Journal, session: Int, quota: Int, end: SessionEnd, run: CrashRun, model: inout Model,
        appenders: inout [Appender], random: inout SimulationRandom
    ) -> DriveOutcome {
        let p = parameters
        var enqueued = 0
        var lastEnqueued: LSN = journal.durableLSN
        var extraPumps = random.int(in: 0...3)
        let stepsMax = 2_000 + 400 * quota
        var steps = 0
        // Its own stream: the appends and truncations draw as without positions.
        var positionRandom = SimulationRandom(seed: run.seed, stream: 0x504F_5300 ^ UInt64(session))
        func observe() {
            observePositions(journal, model: &model)
            let durable = journal.durableLSN
            model.acknowledge(through: durable, misdirected: run.disk.misdirectedWriteCount)
            for i in appenders.indices where !appenders[i].outstanding.isEmpty {
                appenders[i].outstanding.removeAll { $0 <= durable }
            }
        }
        while true {
            steps += 1
            if run.isPoweredOff { return .powerCut }
            if steps > stepsMax {
                return .failed("no progress after \(steps) steps: durable LSN \(journal.durableLSN), last enqueued \(lastEnqueued)")
            }
            let ready = appenders.indices.filter { appenders[$0].outstanding.count < p.outstandingPerAppenderMax }
            let canEnqueue = enqueued < quota && !ready.isEmpty
            if enqueued == quota {
                switch end {
                case .finish, .close:
                    if journal.durableLSN >= lastEnqueued { return .done }
                case .crash:
                    if extraPumps == 0 { return .done }
                    extraPumps -= 1
                }
            }
            do {
                if canEnqueue && random.below(100) < 55 {
                    let a = ready[random.below(ready.count)]
                    let lsn = journal.nextLSN
                    if let failure = try appendOne(journal, lsn: lsn, session: session, run: run, model: &model, appender: &appenders[a]) {
                        return failure
                    }
                    enqueued += 1
                    lastEnqueued = lsn
                } else if p.truncateProbability > 0 && random.chance(p.truncateProbability) && journal.durableLSN > 0 {
                    let before = LSN(random.int(in: Int(journal.oldestLSN)...Int(journal.durableLSN + 1)))
                    model.keepFrom = max(model.keepFrom, before)
                    try journal.truncate(before: before)
                } else if p.positionProbability > 0 && positionRandom.chance(p.positionProbability) && journal.durableLSN > 0 {
                    if let failure = try movePosition(journal, model: &model, random: &positionRandom) { return failure }
                } else {
                    try journal.pump()
                }
            } catch {
                observe()
                if run.isPoweredOff { return .powerCut }
                if case .poisoned = error { return .poisoned }
                return .failed("unexpected error: \(error)")
            }
            observe()
        }
    }

    /// One appender appends the record `lsn`: blocking (durable on return)
    /// for a share of them, else enqueued and left outstanding. Returns a
    /// failure if the journal broke its contract.
    private func appendOne(
        _ journal: Journal, lsn: LSN, session: Int, run: CrashRun, model: inout Model, appender: inout Appender
    ) throws(JournalError) -> DriveOutcome? {
        let p = parameters
        let payload = Self.payload(seed: run.seed, session: session, lsn: lsn, bytes: appender.nextSize(p))
        if p.blockingAppendShare > 0 && appender.random.chance(p.blockingAppendShare) {
            // Recorded before the call: a failure may come after the record
            // is placed. The committedLSN is a lower bound (placing may pump
            // first, for space): it can only let a loss pass as
            // indistinguishable that an exact one would report, never the
            // reverse.
            model.appended(lsn, payload, committedLSN: journal.durableLSN)
            let got = try journal.appendBlocking(payload)
            if got != lsn { return .failed("appendBlocking returned LSN \(got), nextLSN said \(lsn)") }
            if journal.durableLSN < lsn { return .failed("appendBlocking returned LSN \(lsn) before it was durable") }
        } else {
            let got = try journal.enqueue(payload)
            if got != lsn { return .failed("enqueue returned LSN \(got), nextLSN said \(lsn)") }
            model.appended(lsn, payload, committedLSN: journal.durableLSN)
            appender.outstanding.append(lsn)
        }
        return nil
    }
}
