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
        let explorer = CrashExplorer(KeyValueStoreCrashWorkload())
        var report = CrashReport()
        for seed: UInt64 in 1...3 { report.add(explorer.exploreExhaustively(seed: seed)) }
        #expect(report.crashPoints >= 500, "\(report.summary)")
        #expect(report.recoveryCuts > 0)
        #expect(report.violations.isEmpty, "\(report.violations.prefix(5).map(\.description))")
        #expect(report.violationCount == 0)
    }
}
