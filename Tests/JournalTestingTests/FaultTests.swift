import JournalStorage
import JournalTesting
import Testing
import JournalPrimitives

@Suite("Simulated disk: injected faults")
struct FaultTests {
    @Test("EIO on queued writes, durable writes and reads, only on the files asked")
    func ioErrors() throws {
        var faults = SimulatedDisk.Faults()
        faults.files = ["bad"]
        faults.writeErrorProbability = 1
        faults.durableWriteErrorProbability = 1
        faults.readErrorProbability = 1
        let disk = SimulatedDisk(seed: 8, faults: faults)
        let storage = disk.storage()
        let bad = try storage.createZeroFilled("bad", bytes: 4096)
        let good = try storage.createZeroFilled("good", bytes: 4096)
        let queue = try storage.makeWriteQueue(depth: 2)
        let buffer = AlignedBuffer(count: 512, fill: 7)
        try queue.submit(StorageWrite(file: bad, offset: 0, buffer: buffer.pointer, count: 512, tag: 1))
        try queue.submit(StorageWrite(file: good, offset: 0, buffer: buffer.pointer, count: 512, tag: 2))
        var results: [UInt64: Result<Int, StorageError>] = [:]
        for c in try drain(queue) { results[c.tag] = c.result }
        #expect(results[1].map { if case .failure(let e) = $0 { e.errno == .ioError } else { false } } == true)
        #expect((try results[2]?.get()) == 512)

        let eio = StorageError("pwrite", path: "bad", errno: .ioError)
        #expect(throws: eio) { try bad.writeDurably(buffer.raw, at: 512) }
        try good.writeDurably(buffer.raw, at: 512)
        #expect(throws: StorageError("pread", path: "bad", errno: .ioError)) { _ = try bad.read(into: buffer.bytes, at: 0) }
        #expect(try good.read(into: buffer.bytes, at: 0) == 512)
        // Turned off, the same file reads again.
        disk.faults = SimulatedDisk.Faults()
        #expect(try bad.read(into: buffer.bytes, at: 0) == 512)
    }

    @Test("a misdirected write reports success but lands elsewhere: the target keeps its old bytes")
    func misdirectedWrites() throws {
        var misdirected = 0
        for seed in UInt64(0)..<10 {
            var faults = SimulatedDisk.Faults()
            faults.misdirectedWriteProbability = 1
            let disk = SimulatedDisk(seed: seed, faults: faults)
            let storage = disk.storage()
            let file = try storage.createZeroFilled("f", bytes: 16 * 512)
            _ = try storage.createZeroFilled("g", bytes: 16 * 512)
            let queue = try storage.makeWriteQueue(depth: 1)
            let buffer = AlignedBuffer(count: 512, fill: 0x5A)
            try queue.submit(StorageWrite(file: file, offset: 4096, buffer: buffer.pointer, count: 512, tag: 1))
            let completions = try drain(queue)
            #expect((try completions.first?.result.get()) == 512)
            let durable = disk.durableImage()
            #expect(durable["f"]?.sector(at: 4096).allSatisfy { $0 == 0 } == true, "seed \(seed)")
            // Exactly one sector somewhere holds the bytes.
            let landed = durable.values.reduce(0) { total, bytes in
                total + stride(from: 0, to: bytes.count, by: 512).count { bytes.sector(at: $0).allSatisfy { $0 == 0x5A } }
            }
            #expect(landed == 1)
            // Reads show what the disk holds: old bytes at the target.
            let readBack = AlignedBuffer(count: 512)
            _ = try file.read(into: readBack.bytes, at: 4096)
            #expect(readBack.bytes.allSatisfy { $0 == 0 })
            misdirected += 1
        }
        #expect(misdirected == 10)
    }

    @Test("bit flips change the durable image (and reads) by exactly the bits asked")
    func bitFlips() throws {
        let disk = SimulatedDisk(seed: 9)
        let storage = disk.storage()
        let file = try storage.createZeroFilled("f", bytes: 4096)
        #expect(disk.flipBit(file: "f", offset: 100, bit: 3))
        #expect(!disk.flipBit(file: "f", offset: 4096))
        #expect(!disk.flipBit(file: "missing", offset: 0))
        var image = try #require(disk.durableImage()["f"])
        #expect(image[100] == 0x08 && image.enumerated().allSatisfy { $0.offset == 100 || $0.element == 0 })
        let readBack = AlignedBuffer(count: 1)
        _ = try file.read(into: readBack.bytes, at: 100)
        #expect(readBack.bytes[0] == 0x08)

        let flips = disk.flipRandomBits(count: 5, file: "f")
        #expect(flips.count == 5)
        image = try #require(disk.durableImage()["f"])
        var expected = [UInt8](repeating: 0, count: 4096)
        expected[100] = 0x08
        for flip in flips { expected[flip.location.offset] ^= UInt8(1) << UInt8(flip.bit) }
        #expect(image == expected)
        // Same seed, same flips.
        let twin = SimulatedDisk(seed: 9)
        _ = try twin.storage().createZeroFilled("f", bytes: 4096)
        twin.flipBit(file: "f", offset: 100, bit: 3)
        #expect(twin.flipRandomBits(count: 5, file: "f") == flips)
    }
}
