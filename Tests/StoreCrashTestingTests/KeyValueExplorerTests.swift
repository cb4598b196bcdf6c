import JournalTesting
import KeyValueStore
import StoreCrashTesting
import Testing

@Suite("Crash explorer: the key-value store as a workload")
struct KeyValueExplorerTests {
    @Test("an uncut run acknowledges every batch and checkpoints")
    func uncut() {
        let workload = KeyValueStoreCrashWorkload()
        let disk = SimulatedDisk(seed: 3)
        let model = workload.run(CrashRun(disk: disk, seed: 3, cutAfter: nil))
        #expect(model.created)
        #expect(model.outcome.error == nil)
        #expect(model.outcome.acknowledged == workload.batchCount)
        #expect(model.checkpoints == 5)
        #expect(model.automaticCheckpoints > 0, "the journal threshold starts checkpoints between the explicit ones")
        disk.powerCut()
        let recovered = workload.recover(disk.reboot())
        #expect(workload.check(recovered, model: model).isEmpty)
        #expect(recovered == .recovered(.init(contents: model.workload.state(afterBatches: workload.batchCount))))
    }

    @Test("the check catches a lost acknowledged batch, a torn batch and a refusal")
    func checkCatches() {
        let workload = KeyValueStoreCrashWorkload()
        let model = workload.run(CrashRun(disk: SimulatedDisk(seed: 5), seed: 5, cutAfter: nil))
        let n = workload.batchCount
        #expect(model.outcome.acknowledged == n)
        let lost = model.workload.state(afterBatches: n - 1)
        #expect(workload.check(.recovered(.init(contents: lost)), model: model).map(\.kind) == [.violation])
        var torn = model.workload.state(afterBatches: n - 1)
        var last = model.workload.batches[n - 1]
        last.removeLast()
        KeyValueCrashWorkload.apply(last, to: &torn)
        if torn != model.workload.state(afterBatches: n) {
            #expect(workload.check(.recovered(.init(contents: torn)), model: model).map(\.kind) == [.violation])
        }
        #expect(workload.check(.refused(kind: "corruption", message: "m"), model: model).map(\.kind) == [.violation])
    }

    @Test("a cut at every I/O boundary of transactions and checkpoints, and of each recovery: no violation")
    func exhaustive() {
        // 48 batches: puts journal a few hundred bytes (slotted leaves), so
        // 40 batches went through too few journal writes, automatic
        // checkpoints and segment changes for the floor below.
        let explorer = CrashExplorer(KeyValueStoreCrashWorkload(batchCount: 48))
        var report = CrashReport()
        for seed: UInt64 in 1...3 { report.add(explorer.exploreExhaustively(seed: seed)) }
        print("crash explorer coverage: kv exhaustive: \(report.counts)")
        #expect(report.crashPoints >= 500, "\(report.summary)")
        #expect(report.recoveryCuts > 0)
        #expect(report.violations.isEmpty, "\(report.violations.prefix(5).map(\.description))")
        #expect(report.violationCount == 0)
    }

    /// The journal's fault profiles (journal-format.md's torn and garbage
    /// writes, EIO, bit flips at rest, misdirected writes) under the store,
    /// at seeded random cuts: no violation; damage at rest is reported as
    /// corruption or, where it looks like a torn write, cut; never returned
    /// as data.
    @Test("the store under every fault profile of the journal", arguments: CrashFaultProfile.allCases.filter { $0 != .none })
    func faultProfiles(profile: CrashFaultProfile) {
        let workload = KeyValueStoreCrashWorkload(batchCount: 24, profile: profile)
        let explorer = CrashExplorer(workload, recoveryCutsMax: 1)
        var report = CrashReport()
        var errors = 0
        for seed: UInt64 in 10..<16 {
            report.add(explorer.exploreRandomly(seed: seed, points: 25))
            if profile == .writeErrors {
                let model = workload.run(CrashRun(disk: SimulatedDisk(seed: seed, faults: workload.faults), seed: seed, cutAfter: nil))
                if model.outcome.error != nil { errors += 1 }
            }
        }
        print("crash explorer coverage: kv \(profile): \(report.counts)")
        #expect(report.workloadCuts >= 100, "\(report.summary)")
        #expect(report.violations.isEmpty, "\(profile): \(report.violations.prefix(5).map(\.description))")
        switch profile {
        case .writeErrors: #expect(errors >= 1, "the profile makes writes fail")
        case .bitFlips: #expect(report.detected >= 10, "flips are reported: \(report.summary)")
        case .misdirectedWrites: #expect(report.detected + report.tolerated >= 1, "\(report.summary)")
        case .none, .garbage: break
        }
    }

    /// Under damage at rest: a refusal as corruption is detected, a shorter
    /// prefix after a flip in the journal is tolerated, but after a flip
    /// elsewhere it is a violation, and so are contents of no prefix.
    @Test("under damage at rest, the check tells detected, tolerated and wrong data apart")
    func checkUnderDamage() {
        let workload = KeyValueStoreCrashWorkload(profile: .bitFlips)
        var model = workload.run(CrashRun(disk: SimulatedDisk(seed: 5), seed: 5, cutAfter: nil))
        let n = workload.batchCount
        #expect(workload.check(.refused(kind: "corruption", message: "m"), model: model).map(\.kind) == [.detected])
        let lost = KeyValueStoreCrashWorkload.State(contents: model.workload.state(afterBatches: n - 1))
        #expect(workload.check(.recovered(lost), model: model).map(\.kind) == [.tolerated])
        var garbled = model.workload.state(afterBatches: n)
        garbled[[0xFF, 0xFE]] = [1]
        #expect(workload.check(.recovered(.init(contents: garbled)), model: model).map(\.kind) == [.violation])
        model.damageOutsideJournal = true
        #expect(workload.check(.recovered(lost), model: model).map(\.kind) == [.violation])
    }

    /// The journal workload's rule for losses, on the store's commits: a
    /// shorter prefix after damage at rest is tolerated only when no
    /// acknowledged commit after the first lost one was made once that one
    /// was durable (its committedLSN would prove the loss), or, under
    /// misdirected writes, when a write went astray after the first lost
    /// batch was acknowledged.
    @Test("under damage at rest, a loss the journal could prove is a violation")
    func lossesFollowTheJournalRule() throws {
        let workload = KeyValueStoreCrashWorkload(profile: .bitFlips)
        let model = workload.run(CrashRun(disk: SimulatedDisk(seed: 5), seed: 5, cutAfter: nil))
        let n = workload.batchCount
        #expect(model.outcome.acknowledged == n)
        #expect(model.lsns.count == n && model.committedAtLeast.count == n && model.misdirectedAtAck.count == n)
        #expect(zip(model.lsns, model.lsns.dropFirst()).allSatisfy { $0 > 0 && $0 <= $1 }, "commit LSNs grow: \(model.lsns)")
        // The second group (batches 4-6) was handed over after batch 2 was
        // waited for: committed once batch 2's commit was durable.
        #expect(workload.groupSize == 3 && workload.durableEvery == 2)
        #expect(model.committedAtLeast[3] >= model.lsns[1], "\(model.committedAtLeast) vs \(model.lsns)")
        func state(_ k: Int) -> KeyValueStoreCrashWorkload.State { .init(contents: model.workload.state(afterBatches: k)) }
        func unique(_ k: Int) -> Bool { model.workload.prefixes(matching: state(k).contents, below: n) == [k] }
        // Losing only the last batch: nothing after it can prove it.
        #expect(workload.proof(ofLosingFrom: n - 1, model: model) == nil)
        #expect(workload.check(.recovered(state(n - 1)), model: model).map(\.kind) == [.tolerated])
        // Losing from an earlier batch that later acknowledged commits prove
        // durable: the journal had to report corruption, not cut.
        let proven = try #require((0..<(n - 1)).last { workload.proof(ofLosingFrom: $0, model: model) != nil && unique($0) })
        let findings = workload.check(.recovered(state(proven)), model: model)
        #expect(findings.map(\.kind) == [.violation])
        #expect(findings.first?.description.contains("was committed after LSN \(model.lsns[proven])") == true, "\(findings)")
        // Under misdirected writes, the same loss passes only when a write
        // went astray after the first lost batch was acknowledged.
        let misdirected = KeyValueStoreCrashWorkload(profile: .misdirectedWrites)
        var m = model
        m.misdirectedTotal = m.misdirectedAtAck[proven]
        #expect(misdirected.check(.recovered(state(proven)), model: m).map(\.kind) == [.violation])
        m.misdirectedTotal += 1
        #expect(misdirected.check(.recovered(state(proven)), model: m).map(\.kind) == [.tolerated])
    }
}
