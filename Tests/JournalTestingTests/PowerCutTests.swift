import JournalStorage
import JournalTesting
import Testing
import JournalPrimitives

/// Runs the workload on a fresh disk, cut after `boundary` (or not cut),
/// and returns the disk (powered off) and the workload's record.
func runWorkload(seed: UInt64, cutAfter boundary: Int?, faults: SimulatedDisk.Faults = .init()) throws -> (SimulatedDisk, Workload) {
    let disk = SimulatedDisk(seed: seed, faults: faults)
    if let boundary { disk.cutAfter(ioBoundary: boundary) }
    var workload = Workload(seed: seed)
    try workload.run(on: disk.storage())
    if !disk.isPoweredOff { disk.powerCut() }
    return (disk, workload)
}

/// Checks the post-crash image of a workload run: acknowledged writes are
/// whole; writes in flight are whole, absent or torn at sector granularity,
/// as the report says (the garbage sector aside); the rest is untouched.
/// Returns the fates seen.
@discardableResult
func checkCrashImage(_ disk: SimulatedDisk, _ workload: Workload, garbage: Bool = false) -> [SimulatedDisk.Fate] {
    let seedNote = Comment(rawValue: "seed \(disk.seed)")
    guard let image = disk.durableImage()[Workload.fileName] else {
        #expect(workload.submitted.isEmpty, seedNote)
        return []
    }
    let report = disk.powerCuts.last
    let fates = Dictionary(uniqueKeysWithValues: (report?.writes ?? []).map { (Int($0.tag), $0) })
    for write in workload.writes {
        let new = workload.bytes(of: write)
        let acknowledged = workload.acknowledged.contains(write.id)
        for sector in 0..<write.sectors {
            let offset = write.offset + sector * SimulatedDisk.sectorBytes
            let bytes = image.sector(at: offset)
            let isNew = bytes.elementsEqual(new.sector(at: sector * SimulatedDisk.sectorBytes))
            let isOld = bytes.allSatisfy { $0 == 0 }
            if acknowledged {
                #expect(isNew, "acknowledged write \(write.id) lost sector \(sector); \(seedNote)")
            } else if let fate = fates[write.id] {
                if garbage && fate.garbageSector == offset { continue }
                switch fate.fate {
                case .whole: #expect(isNew, seedNote)
                case .absent: #expect(isOld, seedNote)
                case .torn(let newSectors): #expect(newSectors.contains(offset) ? isNew : isOld, seedNote)
                }
            } else {
                // Never submitted.
                #expect(isOld && !workload.submitted.contains(write.id), seedNote)
            }
        }
    }
    #expect(disk.contractViolations.isEmpty)
    return fates.values.map(\.fate)
}

@Suite("Simulated disk: power cuts")
struct PowerCutTests {
    @Test("acknowledged writes survive a cut at every I/O boundary; in-flight writes come back whole, absent or torn by sector")
    func everyBoundary() throws {
        var sawWhole = false, sawAbsent = false, sawMixedTear = false
        for seed in UInt64(0)..<12 {
            let (full, fullRun) = try runWorkload(seed: seed, cutAfter: nil)
            #expect(!fullRun.cut && fullRun.acknowledged.count == Workload.writeCount)
            let boundaries = full.ioCount
            // 1 create + one submission and one completion per write.
            #expect(boundaries == 1 + 2 * Workload.writeCount)
            for k in 0...boundaries {
                let (disk, run) = try runWorkload(seed: seed, cutAfter: k)
                #expect(disk.ioCount == k, "the cut comes right after boundary \(k)")
                #expect(disk.powerCuts.count == 1 && disk.powerCuts.first?.ioCount == k)
                for fate in checkCrashImage(disk, run) {
                    switch fate {
                    case .whole: sawWhole = true
                    case .absent: sawAbsent = true
                    case .torn(let sectors): if !sectors.isEmpty { sawMixedTear = true }
                    }
                }
            }
        }
        #expect(sawWhole && sawAbsent && sawMixedTear)
    }

    @Test("a torn write is old or new per 512-byte sector, and both occur within one write")
    func tornAtSectorGranularity() throws {
        var faults = SimulatedDisk.Faults()
        faults.crashWholeProbability = 0
        faults.crashTornProbability = 1
        var mixed = 0
        for seed in UInt64(0)..<30 {
            let disk = SimulatedDisk(seed: seed, faults: faults)
            let storage = disk.storage()
            let file = try storage.createZeroFilled("f", bytes: 8 * 512)
            let queue = try storage.makeWriteQueue(depth: 1)
            let buffer = AlignedBuffer(count: 8 * 512)
            for sector in 0..<8 {
                for i in (sector * 512)..<(sector * 512 + 512) { buffer.bytes[i] = pattern(write: 1, sector: sector) }
            }
            try queue.submit(StorageWrite(file: file, offset: 0, buffer: buffer.pointer, count: 8 * 512, tag: 1))
            let report = disk.powerCut()
            let image = try #require(disk.durableImage()["f"])
            guard case .torn(let newSectors) = try #require(report.writes.first).fate else {
                Issue.record("expected a tear")
                continue
            }
            var news = 0
            for sector in 0..<8 {
                let bytes = image.sector(at: sector * 512)
                let isNew = bytes.allSatisfy { $0 == pattern(write: 1, sector: sector) }
                let isOld = bytes.allSatisfy { $0 == 0 }
                #expect(isNew != isOld)
                #expect(isNew == newSectors.contains(sector * 512))
                if isNew { news += 1 }
            }
            if news > 0 && news < 8 { mixed += 1 }
        }
        #expect(mixed >= 25)
    }

    @Test("with garbage enabled, one sector of each write in flight is random and the rest still whole, absent or torn")
    func garbageSector() throws {
        var faults = SimulatedDisk.Faults()
        faults.crashGarbageSectorProbability = 1
        for seed in UInt64(0)..<20 {
            let (full, _) = try runWorkload(seed: seed, cutAfter: nil, faults: faults)
            let (disk, run) = try runWorkload(seed: seed, cutAfter: full.ioCount / 2, faults: faults)
            let report = try #require(disk.powerCuts.last)
            #expect(!report.writes.isEmpty && report.writes.allSatisfy { $0.garbageSector != nil })
            checkCrashImage(disk, run, garbage: true)
            let image = try #require(disk.durableImage()[Workload.fileName])
            for fate in report.writes {
                let sector = try #require(fate.garbageSector)
                #expect(fate.target.offset <= sector && sector < fate.target.offset + fate.count)
                let bytes = image.sector(at: sector)
                #expect(Set(bytes).count > 16, "random bytes, not a pattern")
            }
        }
    }

    @Test("after a cut every operation fails as a power cut; mappings stay readable; reboot shows the durable image")
    func deadAfterCut() throws {
        let disk = SimulatedDisk(seed: 7)
        let storage = disk.storage()
        let file = try storage.createZeroFilled("f", bytes: 4096)
        let mapping = try file.mapReadOnly()
        let queue = try storage.makeWriteQueue(depth: 2)
        let done = AlignedBuffer(count: 512, fill: 0xAA)
        try queue.submit(StorageWrite(file: file, offset: 0, buffer: done.pointer, count: 512, tag: 1))
        try drain(queue)
        var faults = disk.faults
        faults.crashWholeProbability = 0
        faults.crashTornProbability = 0
        disk.faults = faults  // writes in flight vanish
        let pending = AlignedBuffer(count: 512, fill: 0xBB)
        try queue.submit(StorageWrite(file: file, offset: 512, buffer: pending.pointer, count: 512, tag: 2))
        #expect(mapping.bytes[512] == 0xBB)
        let report = disk.powerCut()
        #expect(report.writes.map(\.fate) == [.absent])
        #expect(report.description.contains("absent"))

        let isCut: (any Error) -> Bool = { ($0 as? StorageError).map(SimulatedDisk.isPowerCut) ?? false }
        let scratch = AlignedBuffer(count: 512)
        #expect(performing: { _ = try file.read(into: scratch.bytes, at: 0) }, throws: isCut)
        #expect(performing: { try file.writeDurably(scratch.raw, at: 0) }, throws: isCut)
        #expect(performing: { _ = try storage.open("f") }, throws: isCut)
        #expect(performing: { _ = try storage.fileNames() }, throws: isCut)
        #expect(performing: { _ = try storage.lockExclusive() }, throws: isCut)
        #expect(performing: { try queue.pollCompletions { _ in } }, throws: isCut)
        #expect(performing: { try queue.submit(StorageWrite(file: file, offset: 0, buffer: scratch.pointer, count: 512, tag: 3)) }, throws: isCut)
        #expect(queue.inFlightCount == 0)
        // The old mapping is frozen at the cut.
        #expect(mapping.bytes[0] == 0xAA && mapping.bytes[512] == 0xBB)

        let next = disk.reboot()
        #expect(next.boot == 1)
        let reopened = try next.open("f")
        #expect(try reopened.read(into: scratch.bytes, at: 0) == 512 && scratch.bytes.allSatisfy { $0 == 0xAA })
        #expect(try reopened.read(into: scratch.bytes, at: 512) == 512 && scratch.bytes.allSatisfy { $0 == 0 })
        // Handles of the old boot stay dead.
        #expect(performing: { _ = try file.read(into: scratch.bytes, at: 0) }, throws: isCut)
    }

    @Test("same seed, same image, byte for byte; different seeds differ")
    func determinism() throws {
        var faults = SimulatedDisk.Faults()
        faults.latencyProbability = 0.2
        faults.misdirectedWriteProbability = 0.05
        faults.crashGarbageSectorProbability = 0.3
        var images: Set<[UInt8]> = []
        for seed in UInt64(100)..<120 {
            let (full, _) = try runWorkload(seed: seed, cutAfter: nil, faults: faults)
            let cut = full.ioCount * 2 / 3
            let (a, runA) = try runWorkload(seed: seed, cutAfter: cut, faults: faults)
            let (b, runB) = try runWorkload(seed: seed, cutAfter: cut, faults: faults)
            #expect(a.durableImage() == b.durableImage())
            #expect(a.powerCuts == b.powerCuts)
            #expect(runA.acknowledged == runB.acknowledged)
            images.insert(try #require(a.durableImage()[Workload.fileName]))
        }
        #expect(images.count >= 15)
    }
}
