import JournalStorage
import JournalTesting
import TestSupport
import Testing
import JournalPrimitives

@Suite("Simulated disk: the storage seam")
struct StorageSeamTests {
    @Test("used as FileSystemStorage is: create, open, map, queue writes, read back")
    func fileSystemLikeUsage() throws {
        let disk = SimulatedDisk(seed: 1)
        let storage = disk.storage()
        #expect(storage.ioAlignment == 512)
        let created = try storage.createZeroFilled("a", bytes: 8192)
        #expect(created.size == 8192 && created.name == "a")
        #expect(try storage.fileNames() == ["a"])
        #expect(throws: StorageError.self) { _ = try storage.createZeroFilled("a", bytes: 512) }
        #expect(throws: StorageError.self) { _ = try storage.open("missing") }

        let file = try storage.open("a")
        let mapping = try file.mapReadOnly()
        #expect(mapping.bytes.count == 8192 && mapping.bytes.allSatisfy { $0 == 0 })

        let queue = try storage.makeWriteQueue(depth: 4)
        let buffers = (0..<4).map { AlignedBuffer(count: 1024, fill: UInt8(0x10 + $0)) }
        for (index, buffer) in buffers.enumerated() {
            try queue.submit(StorageWrite(file: file, offset: index * 2048, buffer: buffer.pointer, count: 1024, tag: UInt64(index)))
        }
        #expect(queue.inFlightCount == 4)
        // The volatile view shows writes in flight; the durable image does not yet.
        #expect(mapping.bytes[2048] == 0x11)
        #expect(disk.durableImage()["a"]?[2048] == 0)

        let completions = try drain(queue)
        #expect(Set(completions.map(\.tag)) == [0, 1, 2, 3])
        #expect(completions.allSatisfy { (try? $0.result.get()) == 1024 })
        let durable = try #require(disk.durableImage()["a"])
        for index in 0..<4 {
            #expect(durable[(index * 2048)..<(index * 2048 + 1024)].allSatisfy { $0 == UInt8(0x10 + index) })
            #expect(durable[(index * 2048 + 1024)..<(index * 2048 + 2048)].allSatisfy { $0 == 0 })
        }

        let readBack = AlignedBuffer(count: 3000)
        #expect(try file.read(into: readBack.bytes, at: 1000) == 3000)
        #expect(readBack.bytes[23] == 0x10 && readBack.bytes[24] == 0 && readBack.bytes[1048] == 0x11)
        #expect(try file.read(into: readBack.bytes, at: 8000) == 192)  // short at end of file

        let header = AlignedBuffer(count: 512, fill: 0xEE)
        try file.writeDurably(header.raw, at: 7680)
        #expect(disk.durableImage()["a"]?[7680] == 0xEE && mapping.bytes[8191] == 0xEE)

        try storage.rename("a", to: "b")
        #expect(try storage.fileNames() == ["b"])
        try storage.remove("b")
        #expect(try storage.fileNames() == [])
        // An open handle keeps its inode, as on POSIX.
        #expect(try file.read(into: readBack.bytes, at: 7680) == 512 && readBack.bytes[0] == 0xEE)
        #expect(disk.contractViolations.isEmpty)
    }

    @Test("the writer lock gives EWOULDBLOCK to a second locker while held")
    func lock() throws {
        let disk = SimulatedDisk(seed: 2)
        let storage = disk.storage()
        let held = try storage.lockExclusive()
        #expect(throws: StorageError("flock", path: storage.path, errno: .wouldBlock)) { _ = try storage.lockExclusive() }
        // Another opener of the same directory, in the same boot, is refused too.
        let other = disk.storage()
        #expect(throws: StorageError("flock", path: other.path, errno: .wouldBlock)) { _ = try other.lockExclusive() }
        held.unlock()
        let again = try other.lockExclusive()
        #expect(throws: StorageError.self) { _ = try storage.lockExclusive() }
        // The holder's process dies with the power: the next boot may lock.
        _ = again
        let rebooted = disk.reboot()
        _ = try rebooted.lockExclusive()
    }

    @Test("directory changes are durable at once")
    func directoryChangesAreDurable() throws {
        let disk = SimulatedDisk(seed: 3)
        let storage = disk.storage()
        _ = try storage.createZeroFilled("x", bytes: 1024)
        _ = try storage.createZeroFilled("y", bytes: 512)
        try storage.rename("x", to: "z")
        try storage.remove("y")
        #expect(disk.ioCount == 4)
        let after = disk.reboot()
        #expect(try after.fileNames() == ["z"])
        #expect(try after.open("z").size == 1024)
    }

    @Test("a buffer changed while its write is in flight is reported")
    func bufferReuseIsDetected() throws {
        let disk = SimulatedDisk(seed: 4)
        let storage = disk.storage()
        let file = try storage.createZeroFilled("f", bytes: 4096)
        let queue = try storage.makeWriteQueue(depth: 1)
        let buffer = AlignedBuffer(count: 512, fill: 1)
        try queue.submit(StorageWrite(file: file, offset: 0, buffer: buffer.pointer, count: 512, tag: 9))
        buffer.bytes[0] = 2
        try drain(queue)
        #expect(disk.contractViolations.count == 1)
        // The device read the buffer late: the changed byte landed.
        #expect(disk.durableImage()["f"]?[0] == 2)
    }

    @Test("completions come in an order the seed chooses, not submission order")
    func completionsReorder() throws {
        var reordered = 0
        for seed in UInt64(0)..<20 {
            let disk = SimulatedDisk(seed: seed)
            let storage = disk.storage()
            let file = try storage.createZeroFilled("f", bytes: 8 * 512)
            let queue = try storage.makeWriteQueue(depth: 8)
            let buffer = AlignedBuffer(count: 512)
            for tag in 0..<8 {
                try queue.submit(StorageWrite(file: file, offset: tag * 512, buffer: buffer.pointer, count: 512, tag: UInt64(tag)))
            }
            let order = try drain(queue).map(\.tag)
            #expect(order.sorted() == Array(0..<8))
            if order != Array(0..<8) { reordered += 1 }
        }
        #expect(reordered >= 15)
    }

    @Test("polling makes progress: never two empty polls in a row while writes are in flight")
    func pollingProgresses() throws {
        var faults = SimulatedDisk.Faults()
        faults.latencyProbability = 0.5
        faults.latencyPollsMax = 50
        for seed in UInt64(0)..<20 {
            let disk = SimulatedDisk(seed: seed, faults: faults)
            let storage = disk.storage()
            let file = try storage.createZeroFilled("f", bytes: 8 * 512)
            let queue = try storage.makeWriteQueue(depth: 8)
            let buffer = AlignedBuffer(count: 512)
            for tag in 0..<8 {
                try queue.submit(StorageWrite(file: file, offset: tag * 512, buffer: buffer.pointer, count: 512, tag: UInt64(tag)))
            }
            var previousEmpty = false
            var polls = 0
            while queue.inFlightCount > 0 {
                let n = try queue.pollCompletions { _ in }
                #expect(!(previousEmpty && n == 0))
                previousEmpty = n == 0
                polls += 1
            }
            #expect(polls <= 16)
        }
    }

    @Test("latency holds a write back while later ones complete")
    func latencyReorders() throws {
        var faults = SimulatedDisk.Faults()
        faults.latencyProbability = 1
        faults.latencyPollsMax = 200
        faults.files = ["slow"]
        let disk = SimulatedDisk(seed: 5, faults: faults)
        let storage = disk.storage()
        let slow = try storage.createZeroFilled("slow", bytes: 512)
        let fast = try storage.createZeroFilled("fast", bytes: 64 * 512)
        let queue = try storage.makeWriteQueue(depth: 2)
        let buffer = AlignedBuffer(count: 512)
        try queue.submit(StorageWrite(file: slow, offset: 0, buffer: buffer.pointer, count: 512, tag: 1000))
        // Keep the queue busy with fast writes: the slow one stays back.
        var fastCompleted = 0
        var slowDone = false
        var next = 0
        while !slowDone && next < 64 {
            if queue.inFlightCount < 2 {
                try queue.submit(StorageWrite(file: fast, offset: next * 512, buffer: buffer.pointer, count: 512, tag: UInt64(next)))
                next += 1
            }
            try queue.pollCompletions { c in
                if c.tag == 1000 { slowDone = true } else { fastCompleted += 1 }
            }
        }
        #expect(fastCompleted >= 10)
    }

    @Test("waitForCompletions completes at least one, returns after a wake, and a power cut ends it")
    func waiting() throws {
        let disk = SimulatedDisk(seed: 6)
        let storage = disk.storage()
        let file = try storage.createZeroFilled("f", bytes: 4096)
        let queue = try storage.makeWriteQueue(depth: 4)
        let buffer = AlignedBuffer(count: 512)
        for tag in 0..<3 {
            try queue.submit(StorageWrite(file: file, offset: tag * 512, buffer: buffer.pointer, count: 512, tag: UInt64(tag)))
        }
        while queue.inFlightCount > 0 {
            #expect(try queue.waitForCompletions { _ in } >= 1)
        }
        // Nothing in flight: a wake given before the wait ends it at once.
        queue.waker.wake()
        #expect(try queue.waitForCompletions { _ in } == 0)

        // Nothing in flight: a wake from another thread ends a blocked wait.
        let waker = queue.waker
        let thread = TestThread { waker.wake() }
        #expect(try queue.waitForCompletions { _ in } == 0)
        thread.join()

        // A power cut from another thread ends a blocked wait with an error.
        let cutter = TestThread { disk.powerCut() }
        #expect {
            try queue.waitForCompletions { _ in }
        } throws: { error in
            (error as? StorageError).map(SimulatedDisk.isPowerCut) ?? false
        }
        cutter.join()
    }
}
