import Journal
import JournalStorage
import JournalTesting
import KeyValueStore
import PageStore
import StoreCrashTesting
import Testing

@Suite("Key-value store: power cuts on the simulated disk")
struct KeyValueCrashTests {
    /// Creates a store on a fresh disk; returns the disk and the I/O count
    /// after creation.
    func freshDisk(seed: UInt64) throws -> SimulatedDisk {
        let disk = SimulatedDisk(seed: seed)
        try KeyValueStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: simConfiguration())
        return disk
    }

    /// Runs the workload with the power cut after `boundary` I/O boundaries
    /// past creation, reboots, recovers, and checks the recovered contents.
    func cutAndCheck(seed: UInt64, workload: KeyValueCrashWorkload, boundary: Int?, groupSize: Int = 1) throws -> (cut: Bool, prefix: Int?) {
        let disk = try freshDisk(seed: seed)
        if let boundary { disk.cutAfter(ioBoundary: disk.ioCount + boundary) }
        var outcome = KeyValueCrashWorkload.Outcome()
        do {
            let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions())
            outcome = workload.run(on: kv, groupSize: groupSize)
        } catch {
            // The cut came while opening: nothing was issued.
        }
        let cut = disk.isPoweredOff
        let storage = disk.reboot()
        let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: storage), options: simOptions())
        defer { kv.close() }
        let prefix = workload.matchingPrefix(try kv.contents(), outcome: outcome)
        let where_ = boundary.map { "boundary \($0)" } ?? "no cut"
        #expect(prefix != nil, "seed \(seed) \(where_): recovered state is no prefix in \(outcome.acknowledged)...\(outcome.issued)")
        #expect(disk.contractViolations.isEmpty)
        return (cut, prefix)
    }

    /// Cuts the power at every I/O boundary of a 24-batch workload with a
    /// checkpoint after batch 12, queued `groupSize` batches at a time, and
    /// checks each recovery. `probed` sees the store after an uncut run.
    func cutAtEveryBoundary(seed: UInt64, groupSize: Int, boundariesMin: Int, probed: (KeyValueStore) -> Void = { _ in }) throws {
        var workload = KeyValueCrashWorkload(seed: seed, batchCount: 24, operationsPerBatchMax: 6, keySpace: 300, valueBytesMax: 200)
        workload.checkpointAfterBatches = 12
        // Uncut run: how many boundaries the workload passes.
        let probe = try freshDisk(seed: seed)
        let start = probe.ioCount
        do {
            let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: probe.storage()), options: simOptions())
            let outcome = workload.run(on: kv, groupSize: groupSize)
            #expect(outcome.error == nil && outcome.acknowledged == 24)
            probed(kv)
            kv.close()
        }
        let boundaries = probe.ioCount - start
        #expect(boundaries > boundariesMin)
        var partial = 0
        for boundary in 0..<boundaries {
            let (cut, prefix) = try cutAndCheck(seed: seed &+ UInt64(boundary), workload: workload, boundary: boundary, groupSize: groupSize)
            #expect(cut, "every boundary below the total cuts the power (boundary \(boundary))")
            if let prefix, prefix > 0 && prefix < 24 { partial += 1 }
        }
        #expect(partial > 0, "some cuts leave a strict prefix")
    }

    @Test("a cut at every I/O boundary of a workload with a checkpoint: every acknowledged batch survives, each batch whole or absent, in order")
    func everyBoundary() throws {
        try cutAtEveryBoundary(seed: 7, groupSize: 1, boundariesMin: 20)
    }

    @Test("write groups: a cut at every I/O boundary of a workload whose batches are queued four at a time as one group: every acknowledged batch survives, each batch whole or absent, in order")
    func everyBoundaryGrouped() throws {
        try cutAtEveryBoundary(seed: 9, groupSize: 4, boundariesMin: 10) { kv in
            #expect(kv.writeGroupStatistics.transactions < kv.writeGroupStatistics.batches, "batches shared transactions")
        }
    }

    @Test("a clean run recovers every batch")
    func uncut() throws {
        let workload = KeyValueCrashWorkload(seed: 11, batchCount: 30)
        let (cut, prefix) = try cutAndCheck(seed: 11, workload: workload, boundary: nil)
        #expect(!cut)
        #expect(prefix == 30)
    }
}
