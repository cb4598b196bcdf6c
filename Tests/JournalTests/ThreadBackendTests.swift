import Foundation
@_spi(Testing) import Journal
@_spi(Testing) @testable import JournalFileStorage
import JournalPrimitives
import JournalStorage
import TestSupport
import Testing

/// The thread backend (`JournalIOBackend.threads`): durable writes from a
/// pool of threads, completions in any order, EIO poisoning, inline writes,
/// and the choice of backend at open.
@Suite struct ThreadBackendTests {
    static func storage(_ dir: TemporaryDirectory, fault: (@Sendable (UInt64, Int) -> Errno?)? = nil) throws -> FileSystemStorage {
        var o = FileSystemStorage.Options()
        o.ioBackend = .threads
        o.threadWriteFault = fault
        return try FileSystemStorage(path: dir.path, options: o)
    }

    /// A write held up on its thread completes after one submitted later:
    /// the queue reports completions as the disk finishes them, and both
    /// writes land.
    @Test(arguments: TestFileSystem.allCases)
    func completionsArriveOutOfOrder(fs: TestFileSystem) throws {
        let dir = TemporaryDirectory(on: fs)
        let gate = Parker()
        let storage = try Self.storage(dir) { tag, _ in
            if tag == 1 { gate.park() }
            return nil
        }
        #expect(storage.ioBackend.backend == .threads)
        let block = storage.ioAlignment
        let file = try storage.createZeroFilled("f", bytes: 2 * block)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * block, alignment: max(block, 4096))
        defer { buffer.deallocate() }
        buffer.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0xA1, count: block)
        (buffer.baseAddress! + block).initializeMemory(as: UInt8.self, repeating: 0xB2, count: block)
        do {
            let queue = try storage.makeWriteQueue(depth: 2)
            try queue.submit(StorageWrite(file: file, offset: 0, buffer: buffer.baseAddress!, count: block, tag: 1))
            try queue.submit(StorageWrite(file: file, offset: block, buffer: buffer.baseAddress! + block, count: block, tag: 2))
            try queue.flush()
            var order: [UInt64] = []
            while order.isEmpty { try queue.waitForCompletions { order.append($0.tag) } }
            #expect(order == [2], "the held write has not completed")
            gate.unpark()
            while order.count < 2 {
                try queue.waitForCompletions { c in
                    order.append(c.tag)
                    #expect((try? c.result.get()) == block)
                }
            }
            #expect(order == [2, 1])
            #expect(queue.inFlightCount == 0)
        }
        let back = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * block, alignment: max(block, 4096))
        defer { back.deallocate() }
        #expect(try file.read(into: back, at: 0) == 2 * block)
        #expect(back[0] == 0xA1 && back[block - 1] == 0xA1 && back[block] == 0xB2 && back[2 * block - 1] == 0xB2)
    }

    /// A queue deeper than `threadsMax` starts `threadsMax` threads, not one
    /// per slot. While every thread is held inside a write, the extra writes
    /// wait unstarted; once released, all of them complete.
    @Test func aDeepQueueSharesItsThreads() throws {
        let dir = TemporaryDirectory(on: .shm)
        let gate = HeldWrites()
        let storage = try Self.storage(dir) { _, _ in gate.enterAndWait() }
        let block = storage.ioAlignment
        let depth = ThreadWriteQueue.threadsMax + 36
        let file = try storage.createZeroFilled("f", bytes: depth * block)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: block, alignment: max(block, 4096))
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xC3)
        let queue = try storage.makeWriteQueue(depth: depth)
        #expect(try #require(queue as? ThreadWriteQueue).threadCount == ThreadWriteQueue.threadsMax)
        for i in 0..<depth {
            try queue.submit(StorageWrite(file: file, offset: i * block, buffer: buffer.baseAddress!, count: block, tag: UInt64(i)))
        }
        try queue.flush()
        gate.waitUntilEntered(ThreadWriteQueue.threadsMax)
        #expect(try queue.pollCompletions { _ in } == 0, "every thread is held in a write")
        #expect(gate.entered == ThreadWriteQueue.threadsMax, "no write started beyond the threads")
        gate.release()
        var done = 0
        while done < depth {
            done += try queue.waitForCompletions { #expect((try? $0.result.get()) == block) }
        }
        #expect(gate.entered == depth)
        #expect(queue.inFlightCount == 0)
    }

    /// `waker.wake()` from another thread ends a wait with no completion.
    @Test func theWakerEndsAWait() throws {
        let dir = TemporaryDirectory(on: .shm)
        let queue = try Self.storage(dir).makeWriteQueue(depth: 2)
        let waker = queue.waker
        let thread = JoinableThread(name: "waker") { waker.wake() }
        #expect(try queue.waitForCompletions { _ in } == 0)
        thread.join()
    }

    /// An EIO from a write of the thread pool poisons the journal: the
    /// append fails, later ones fail, and reopening finds what was durable.
    @Test func eioPoisonsTheJournal() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let writes = LockedValue(0)
        let storage = try Self.storage(dir) { _, _ in
            writes.withLock { n in
                n += 1
                return n == 4 ? .ioError : nil
            }
        }
        var options = JournalOptions()
        options.inlineWrites = false
        let journal = try Journal.open(storage: storage, options: options)
        for i in 1...3 { #expect(try journal.appendBlocking([UInt8(i)]) == LSN(i)) }
        do {
            _ = try journal.appendBlocking([4])
            Issue.record("the failed write was acknowledged")
        } catch {
            guard case .poisoned(let e) = error else { Issue.record("got \(error)"); return }
            #expect(e.errno == .ioError && e.operation == "pwritev2")
        }
        #expect(throws: JournalError.self) { try journal.appendBlocking([5]) }
        #expect(journal.durableLSN == 3)
        journal.close()
        try expectReopenedToAppend(dir.path, after: 3)
    }

    /// Many appenders through the pool, with and without inline writes:
    /// every acknowledged record is there after reopening.
    @Test(arguments: [true, false])
    func concurrentAppendsSurviveReopening(inline: Bool) throws {
        let dir = TemporaryDirectory(on: .tmp)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        var options = JournalOptions()
        options.ioBackend = .threads
        options.inlineWrites = inline
        let journal = try Journal.open(path: dir.path, options: options)
        let acknowledged = LockedValue<[LSN: Int]>([:])
        let threads = (0..<8).map { t in
            JoinableThread(name: "appender-\(t)") {
                for i in 0..<40 {
                    let seed = t * 1000 + i
                    guard let lsn = try? journal.appendBlocking(payload(seed, bytes: 100 + seed % 3000)) else { return }
                    acknowledged.withLock { $0[lsn] = seed }
                }
            }
        }
        for t in threads { t.join() }
        journal.close()
        let records = acknowledged.withLock { $0 }
        #expect(records.count == 320)
        let reader = try Journal.openForReading(path: dir.path)
        #expect(reader.recoveryReport.lastLSN == 320)
        for (lsn, seed) in records { #expect(try reader.record(at: lsn) == payload(seed, bytes: 100 + seed % 3000)) }
    }
}

/// Holds writes of the thread queue's fault hook until released, counting
/// how many have entered.
private final class HeldWrites: @unchecked Sendable {
    // @unchecked: both vars are touched only with `lock` held.
    private let lock = ConditionLock()
    private let changed: ConditionLock.Condition
    private var count = 0
    private var released = false

    init() { changed = ConditionLock.Condition(lock) }

    var entered: Int { lock.withLock { count } }

    func enterAndWait() -> Errno? {
        lock.withLock {
            count += 1
            changed.broadcast()
            while !released { changed.wait() }
        }
        return nil
    }

    func waitUntilEntered(_ n: Int) {
        lock.withLock { while count < n { changed.wait() } }
    }

    func release() {
        lock.withLock {
            released = true
            changed.broadcast()
        }
    }
}
