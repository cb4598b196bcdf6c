import JournalStorage
import JournalTesting

/// A small deterministic workload on a simulated disk: non-overlapping
/// writes of 1-4 sectors, each sector filled with `pattern(write:sector:)`,
/// submitted through a queue of depth 4 and polled at moments its own seed
/// chooses. Stops at the first power-cut error.
struct Workload {
    static let fileName = "segment"
    static let fileBytes = 128 * SimulatedDisk.sectorBytes
    static let writeCount = 24

    struct Write {
        let id: Int
        let offset: Int
        let sectors: Int
        var range: Range<Int> { offset..<(offset + sectors * SimulatedDisk.sectorBytes) }
    }

    let seed: UInt64
    var writes: [Write] = []
    /// Writes submitted, by tag.
    var submitted: Set<Int> = []
    /// Writes whose completion reported success, in the order reported.
    var acknowledged: [Int] = []
    /// Writes whose completion reported an error.
    var failed: [Int] = []
    /// Whether the run ended at a power cut.
    var cut = false

    init(seed: UInt64) {
        self.seed = seed
        var random = SimulationRandom(seed: seed, stream: 0xABCD)
        var offset = 0
        for id in 0..<Self.writeCount {
            let sectors = 1 + random.below(4)
            writes.append(Write(id: id, offset: offset, sectors: sectors))
            offset += sectors * SimulatedDisk.sectorBytes
        }
        precondition(offset <= Self.fileBytes)
    }

    /// The bytes write `id` puts down.
    func bytes(of write: Write) -> [UInt8] {
        (0..<write.sectors).flatMap { sector in
            [UInt8](repeating: pattern(write: write.id, sector: sector), count: SimulatedDisk.sectorBytes)
        }
    }

    /// Runs on `storage` until done or the power goes.
    mutating func run(on storage: SimulatedStorage) throws {
        do {
            try runUntilError(storage)
        } catch let error as StorageError where SimulatedDisk.isPowerCut(error) {
            cut = true
        }
    }

    private mutating func runUntilError(_ storage: SimulatedStorage) throws {
        var random = SimulationRandom(seed: seed, stream: 0xBEEF)
        let file = try storage.createZeroFilled(Self.fileName, bytes: Self.fileBytes)
        let queue = try storage.makeWriteQueue(depth: 4)
        // Buffers live until the queue is done with them.
        var buffers: [AlignedBuffer] = []
        var next = 0
        func record(_ c: StorageCompletion) {
            switch c.result {
            case .success: acknowledged.append(Int(c.tag))
            case .failure: failed.append(Int(c.tag))
            }
        }
        while next < writes.count || queue.inFlightCount > 0 {
            if next < writes.count && queue.inFlightCount < queue.depth && random.chance(0.7) {
                let write = writes[next]
                let buffer = AlignedBuffer(count: write.sectors * SimulatedDisk.sectorBytes)
                buffer.bytes.copyBytes(from: bytes(of: write))
                buffers.append(buffer)
                try queue.submit(StorageWrite(
                    file: file, offset: write.offset, buffer: buffer.pointer, count: buffer.bytes.count,
                    tag: UInt64(write.id)))
                submitted.insert(write.id)
                next += 1
            } else {
                try queue.pollCompletions { record($0) }
            }
        }
        _ = buffers
    }
}
