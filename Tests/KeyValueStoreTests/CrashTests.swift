import Journal
import JournalStorage
import JournalTesting
import KeyValueStore
import PageStore
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

    @Test("a cut at every I/O boundary of a workload with a checkpoint: every acknowledged batch survives, each batch whole or absent, in order")
    func everyBoundary() throws {
        var workload = KeyValueCrashWorkload(seed: 7, batchCount: 24, operationsPerBatchMax: 6, keySpace: 300, valueBytesMax: 200)
        workload.checkpointAfterBatches = 12
        // Uncut run: how many boundaries the workload passes.
        let probe = try freshDisk(seed: 7)
        let start = probe.ioCount
        do {
            let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: probe.storage()), options: simOptions())
            let outcome = workload.run(on: kv)
            #expect(outcome.error == nil && outcome.acknowledged == 24)
            kv.close()
        }
        let boundaries = probe.ioCount - start
        #expect(boundaries > 20)
        var cuts = 0
        var partial = 0
        for boundary in 0..<boundaries {
            let (cut, prefix) = try cutAndCheck(seed: 7 &+ UInt64(boundary), workload: workload, boundary: boundary)
            if cut { cuts += 1 }
            if let prefix, prefix > 0 && prefix < 24 { partial += 1 }
        }
        #expect(cuts == boundaries, "every boundary below the total cuts the power")
        #expect(partial > 0, "some cuts leave a strict prefix")
    }

    @Test("write groups: a cut at every I/O boundary of a workload whose batches are queued four at a time as one group: every acknowledged batch survives, each batch whole or absent, in order")
    func everyBoundaryGrouped() throws {
        var workload = KeyValueCrashWorkload(seed: 9, batchCount: 24, operationsPerBatchMax: 6, keySpace: 300, valueBytesMax: 200)
        workload.checkpointAfterBatches = 12
        let probe = try freshDisk(seed: 9)
        let start = probe.ioCount
        do {
            let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: probe.storage()), options: simOptions())
            let outcome = workload.run(on: kv, groupSize: 4)
            #expect(outcome.error == nil && outcome.acknowledged == 24)
            #expect(kv.writeGroupStatistics.transactions < kv.writeGroupStatistics.batches, "batches shared transactions")
            kv.close()
        }
        let boundaries = probe.ioCount - start
        #expect(boundaries > 10)
        var partial = 0
        for boundary in 0..<boundaries {
            let (cut, prefix) = try cutAndCheck(seed: 9 &+ UInt64(boundary), workload: workload, boundary: boundary, groupSize: 4)
            #expect(cut)
            if let prefix, prefix > 0 && prefix < 24 { partial += 1 }
        }
        #expect(partial > 0, "some cuts leave a strict prefix")
    }

    @Test("a clean run recovers every batch")
    func uncut() throws {
        let workload = KeyValueCrashWorkload(seed: 11, batchCount: 30)
        let (cut, prefix) = try cutAndCheck(seed: 11, workload: workload, boundary: nil)
        #expect(!cut)
        #expect(prefix == 30)
    }
}
