import Foundation
@_spi(Testing) import Journal
@_spi(Testing) @testable import JournalFileStorage
import JournalPrimitives
import JournalStorage
import TestSupport
import Testing

/// On tmpfs the I/O thread writes each batch itself (`OwnerThreadWriteQueue`)
/// unless io_uring is asked for: which storage chooses it, that its writes
/// land and complete, and that a wake-up is not lost.
@Suite struct OwnerThreadWriteQueueTests {
    static let ext4: Int64 = 0xEF53

    static func storage(_ dir: TemporaryDirectory, _ backend: JournalIOBackend = .automatic, fileSystemType: Int64? = nil) throws -> FileSystemStorage {
        var o = FileSystemStorage.Options()
        o.ioBackend = backend
        o.fileSystemTypeOverride = fileSystemType
        return try FileSystemStorage(path: dir.path, options: o)
    }

    /// `.automatic` on tmpfs writes from the I/O thread where io_uring
    /// works; an explicit `.ioUring`, another file system or the thread
    /// backend keeps its own queue.
    @Test func chosenOnTmpfsOnlyUnlessIOUringIsAskedFor() throws {
        let dir = TemporaryDirectory(on: .shm)
        let automatic = try Self.storage(dir)
        guard IOBackendSelection.ioUringFailure == nil, IOBackendSelection.environmentOverride == nil else {
            #expect(!automatic.ioBackend.writesFromIOThread, "only in place of io_uring")
            return
        }
        #expect(automatic.ioBackend.backend == .ioUring && automatic.ioBackend.writesFromIOThread)
        #expect(automatic.ioBackend.reason.contains("tmpfs"))
        #expect(try automatic.makeWriteQueue(depth: 2) is OwnerThreadWriteQueue)
        let ring = try Self.storage(dir, .ioUring)
        #expect(!ring.ioBackend.writesFromIOThread)
        #expect(try ring.makeWriteQueue(depth: 2) is UringWriteQueue)
        #expect(try !Self.storage(dir, fileSystemType: Self.ext4).ioBackend.writesFromIOThread)
        #expect(try !Self.storage(dir, .threads).ioBackend.writesFromIOThread)
    }

    /// Writes submitted together are written by the flush, in order, and
    /// reported by the next poll; the bytes read back.
    @Test func writesCompleteOnTheNextPoll() throws {
        let dir = TemporaryDirectory(on: .shm)
        let storage = try Self.storage(dir)
        let block = storage.ioAlignment
        // Aligned for O_DIRECT; a different byte in each block.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * block, alignment: max(block, 4096))
        defer { buffer.deallocate() }
        for i in buffer.indices { buffer[i] = i < block ? 0xA1 : 0xB2 }
        let file = try storage.createZeroFilled("f", bytes: 2 * block)
        let queue = OwnerThreadWriteQueue(depth: 2, alignment: block)
        try queue.submit(StorageWrite(file: file, offset: 0, buffer: buffer.baseAddress!, count: block, tag: 1))
        try queue.submit(StorageWrite(file: file, offset: block, buffer: buffer.baseAddress! + block, count: block, tag: 2))
        #expect(queue.inFlightCount == 2)
        var order: [UInt64] = []
        var written: [Int?] = []
        let reported = try queue.pollCompletions { c in
            order.append(c.tag)
            written.append(try? c.result.get())
        }
        #expect(reported == 2 && order == [1, 2] && written == [block, block])
        #expect(queue.inFlightCount == 0)
        var back = [UInt8](repeating: 0, count: 2 * block)
        #expect(try back.withUnsafeMutableBytes { try file.read(into: $0, at: 0) } == 2 * block)
        #expect(back == Array(buffer), "both blocks landed where they were written")
    }

    /// A wake-up that comes before the wait is kept: the wait returns at
    /// once with no completion, and the next one would sleep again.
    @Test func aWakeUpBeforeTheWaitIsKept() throws {
        let queue = OwnerThreadWriteQueue(depth: 2, alignment: 512)
        queue.waker.wake()
        #expect(try queue.waitForCompletions { _ in } == 0)
        #expect(queue.inFlightCount == 0)
    }

    /// A journal on tmpfs whose every batch goes through the I/O thread's
    /// own writes: 16 tasks append concurrently, each return is durable,
    /// and every record is read back after reopening.
    @Test func tasksAppendThroughTheIOThread() async throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(), directIO: false)
        var options = JournalOptions()
        options.inlineWritesFromTasksMicrosecondsMax = 0
        let journal = try Journal.open(storage: Self.storage(dir), options: options)
        let lsns = try await withThrowingTaskGroup(of: [LSN].self) { group in
            for t in 0..<16 {
                group.addTask {
                    var mine: [LSN] = []
                    for i in 0..<50 {
                        let lsn = try await journal.append(Array("task \(t) record \(i)".utf8))
                        #expect(journal.durableLSN >= lsn)
                        mine.append(lsn)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        journal.close()
        #expect(Set(lsns).count == 800)
        let reopened = try Journal.open(storage: Self.storage(dir))
        defer { reopened.close() }
        #expect(reopened.durableLSN == 800)
    }
}
