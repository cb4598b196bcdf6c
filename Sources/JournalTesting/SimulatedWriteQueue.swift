public import JournalStorage
import JournalPrimitives
#if canImport(Glibc)
import Glibc
#endif

/// A write queue of a simulated disk.
///
/// A submitted write shows in the volatile view at once and stays in flight
/// until a poll or wait completes it; its completion moves it into the
/// durable image. Which writes complete, and in what order, the seed decides:
/// - `pollCompletions` completes any number of the writes in flight, at
///   least one when the previous poll completed none (so polling makes
///   progress);
/// - `waitForCompletions` completes at least one when writes are in flight
///   (simulated time passes instead of blocking), except that, after a wake,
///   it may return none; with nothing in flight it blocks until woken.
/// Faults (see `SimulatedDisk.Faults`) may hold a write back for many polls,
/// fail it with `EIO`, or misdirect it.
///
/// Owned by one thread, like the real queue; the waker works from any.
public final class SimulatedWriteQueue: StorageWriteQueue {
    let storage: SimulatedStorage
    let id: Int
    let signal: WakeSignal
    /// The most writes in flight at once.
    public let depth: Int
    /// Wakes the owner from `waitForCompletions`.
    public let waker: any StorageWaker

    init(storage: SimulatedStorage, id: Int, depth: Int, signal: WakeSignal) {
        self.storage = storage
        self.id = id
        self.depth = depth
        self.signal = signal
        self.waker = SimulatedWaker(signal: signal)
    }

    deinit {
        // As the real queue waits for its writes, complete what is in flight
        // (unreported). The owner may free its buffers right after, so they
        // are not compared.
        storage.disk.state.withLock { s in s.drain(queueID: id, boot: storage.boot) }
    }

    private var disk: SimulatedDisk { storage.disk }

    /// Writes of this queue in flight (none after a power cut).
    public var inFlightCount: Int {
        let id = self.id
        return disk.state.withLock { s in s.inFlight.count(where: { $0.queueID == id }) }
    }

    /// Puts `write` in flight: its bytes show in the volatile view at once.
    /// Requires room, alignment, a file of this boot and a range inside the
    /// file (simulated files have a fixed size). One I/O boundary.
    public func submit(_ write: StorageWrite) throws(StorageError) {
        guard let file = write.file as? SimulatedFile, file.storage.disk === disk else {
            preconditionFailure("a simulated queue writes files of its own disk")
        }
        let alignment = storage.ioAlignment
        precondition(write.offset % alignment == 0 && write.count % alignment == 0, "unaligned write")
        precondition(Int(bitPattern: write.buffer) % alignment == 0, "unaligned buffer")
        precondition(write.count > 0, "empty write")
        precondition(write.offset >= 0 && write.offset + write.count <= file.size, "simulated files have a fixed size")
        let data = Bytes.array(UnsafeRawBufferPointer(start: write.buffer, count: write.count))
        let id = self.id
        let boot = storage.boot
        let pending = PendingSubmission(
            file: file, offset: write.offset, buffer: UncheckedPointer(write.buffer), tag: write.tag, data: data)
        try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "io_uring write", file.name)
            try s.checkAlive(boot: file.storage.boot, "io_uring write", file.name)
            s.submit(queueID: id, pending)
        }
    }

    /// Completes zero or more writes, as the seed decides, and reports them.
    @discardableResult
    public func pollCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        let id = self.id
        let boot = storage.boot
        let path = storage.path
        let completions = try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "io_uring poll", path)
            return s.complete(queueID: id, waiting: false, woken: false)
        }
        // Outside the lock: the body may use the disk.
        completions.forEach(body)
        return completions.count
    }

    /// Completes at least one write when any is in flight (or, after a wake,
    /// possibly none); with none in flight, blocks until woken. Throws when
    /// the power is cut, also while blocked.
    @discardableResult
    public func waitForCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        let id = self.id
        let boot = storage.boot
        let path = storage.path
        while true {
            let woken = signal.isWoken
            let completions = try disk.state.withLock { s throws(StorageError) -> [StorageCompletion]? in
                try s.checkAlive(boot: boot, "io_uring wait", path)
                if !s.inFlight.contains(where: { $0.queueID == id }) { return nil }
                return s.complete(queueID: id, waiting: true, woken: woken)
            }
            guard let completions else {
                // Nothing in flight: only a wake (or a power cut) ends the wait.
                signal.waitUntilWokenOrClosed()
                if signal.isClosed { continue }
                return 0
            }
            if completions.isEmpty {
                // The wake came first.
                assert(woken)
                _ = signal.consume()
                return 0
            }
            completions.forEach(body)
            return completions.count
        }
    }
}

/// A caller's write buffer, carried into the disk's state to be compared at
/// completion; the storage contract keeps it valid until then.
struct UncheckedPointer: @unchecked Sendable {
    let pointer: UnsafeRawPointer
    init(_ pointer: UnsafeRawPointer) { self.pointer = pointer }
}

/// A write on its way into the disk's state.
struct PendingSubmission: Sendable {
    let file: SimulatedFile
    let offset: Int
    let buffer: UncheckedPointer
    let tag: UInt64
    let data: [UInt8]
}

extension DiskState {
    mutating func submit(queueID: Int, _ write: PendingSubmission) {
        let file = write.file
        let data = write.data
        guard var queue = queues[queueID] else { preconditionFailure("a live queue has a state") }
        precondition(inFlight.count(where: { $0.queueID == queueID }) < queue.depth, "write queue overfull")
        precondition(!inFlight.contains { $0.queueID == queueID && $0.tag == write.tag }, "tag in use")
        let faulty = faults.applies(to: file.name)
        let fails = faulty && queue.random.chance(faults.writeErrorProbability)
        let hold = faulty && queue.random.chance(faults.latencyProbability) ? queue.random.int(in: 1...faults.latencyPollsMax) : 0
        var misdirection: (inode: Inode, location: SimulatedDisk.Location)?
        if faulty && queue.random.chance(faults.misdirectedWriteProbability) {
            misdirection = misdirectionTarget(count: data.count, avoiding: (file.inode, write.offset), random: &queue.random)
            if misdirection != nil { misdirectedWrites += 1 }
        }
        queues[queueID] = queue
        let pending = PendingWrite(
            sequence: nextWriteSequence, queueID: queueID, inode: file.inode, fileName: file.name,
            offset: write.offset, data: data, buffer: write.buffer, tag: write.tag,
            holdPolls: hold, fails: fails, misdirection: misdirection)
        nextWriteSequence += 1
        inFlight.append(pending)
        DiskState.copy(data, to: file.inode.volatileBytes, at: write.offset) { _ in true }
        _ = passBoundary()
    }

    /// Another aligned place of `count` bytes, in any named file big enough,
    /// or nil when there is none.
    func misdirectionTarget(
        count: Int, avoiding: (inode: Inode, offset: Int), random: inout SimulationRandom
    ) -> (inode: Inode, location: SimulatedDisk.Location)? {
        let alignment = SimulatedDisk.sectorBytes
        var places: [(name: String, inode: Inode, slots: Int)] = []
        for name in directory.keys.sorted() {
            guard let inode = directory[name], inode.size >= count else { continue }
            places.append((name, inode, (inode.size - count) / alignment + 1))
        }
        let total = places.reduce(0) { $0 + $1.slots }
        // The slot the write was meant for, if it is one: never chosen.
        var avoided: Int?
        var first = 0
        for place in places {
            if place.inode === avoiding.inode && avoiding.offset % alignment == 0 {
                avoided = first + avoiding.offset / alignment
            }
            first += place.slots
        }
        let choices = total - (avoided == nil ? 0 : 1)
        guard choices > 0 else { return nil }
        var slot = random.below(choices)
        if let avoided, slot >= avoided { slot += 1 }
        for place in places {
            if slot < place.slots {
                let offset = slot * alignment
                assert(!(place.inode === avoiding.inode && offset == avoiding.offset))
                return (place.inode, SimulatedDisk.Location(file: place.name, offset: offset))
            }
            slot -= place.slots
        }
        preconditionFailure("the slot is in a place")
    }

    /// Completes some of the queue's writes in flight: the seed picks how
    /// many and which. Stops at a power cut.
    mutating func complete(queueID: Int, waiting: Bool, woken: Bool) -> [StorageCompletion] {
        guard var queue = queues[queueID] else { preconditionFailure("a live queue has a state") }
        // A poll is a tick of the queue's clock: slow writes come closer.
        for index in inFlight.indices where inFlight[index].queueID == queueID && inFlight[index].holdPolls > 0 {
            inFlight[index].holdPolls -= 1
        }
        let mine = inFlight.filter { $0.queueID == queueID }
        if mine.isEmpty {
            queue.lastPollEmpty = false
            queues[queueID] = queue
            return []
        }
        if waiting && woken && queue.random.chance(0.5) {
            queues[queueID] = queue
            return []
        }
        var ready = mine.filter { $0.holdPolls == 0 }.map(\.sequence)
        let mustProgress = waiting || queue.lastPollEmpty
        if ready.isEmpty && mustProgress {
            // Time passes until the least slow write is done.
            guard let soonest = mine.min(by: { $0.holdPolls < $1.holdPolls }) else { preconditionFailure() }
            ready = [soonest.sequence]
        }
        queue.random.shuffle(&ready)
        var count = ready.isEmpty ? 0 : queue.random.below(ready.count + 1)
        if mustProgress { count = max(count, 1) }
        queue.lastPollEmpty = count == 0
        queues[queueID] = queue
        var completions: [StorageCompletion] = []
        for sequence in ready.prefix(count) {
            guard let index = inFlight.firstIndex(where: { $0.sequence == sequence }) else {
                preconditionFailure("a ready write is in flight")
            }
            let write = inFlight.remove(at: index)
            completions.append(finish(write, checkBuffer: true))
            if passBoundary() { break }
        }
        assert(completions.count <= count && (!mustProgress || !completions.isEmpty))
        return completions
    }

    /// Completes every write of the queue without reporting (the queue went
    /// away).
    mutating func drain(queueID: Int, boot: Int) {
        guard !poweredOff && boot == self.boot else { return }
        while !poweredOff, let index = inFlight.firstIndex(where: { $0.queueID == queueID }) {
            let write = inFlight.remove(at: index)
            _ = finish(write, checkBuffer: false)
            _ = passBoundary()
        }
        queues[queueID] = nil
    }

    /// Moves a write taken off the in-flight list into the durable image and
    /// returns its completion.
    private mutating func finish(_ write: PendingWrite, checkBuffer: Bool) -> StorageCompletion {
        assert(!inFlight.contains { $0.sequence == write.sequence })
        var data = write.data
        if checkBuffer {
            let now = UnsafeRawBufferPointer(start: write.buffer.pointer, count: data.count)
            if !data.withUnsafeBytes({ Bytes.equal($0, now) }) {
                violations.append(
                    "write #\(write.sequence) tag \(write.tag) to \(write.fileName)@\(write.offset): "
                        + "buffer changed while in flight")
                // The device reads the buffer late: the changed bytes land.
                data = Bytes.array(now)
            }
        }
        let (inode, offset) = write.landing
        if write.fails {
            var random = queues[write.queueID]?.random ?? SimulationRandom(seed: seed)
            DiskState.copy(data, to: inode.durableBytes, at: offset) { _ in random.chance(0.5) }
            queues[write.queueID]?.random = random
            refreshVolatile(write.inode, write.range)
            return StorageCompletion(
                tag: write.tag, result: .failure(StorageError("io_uring write", path: write.fileName, errno: .ioError)))
        }
        DiskState.copy(data, to: inode.durableBytes, at: offset) { _ in true }
        if write.misdirection != nil {
            // Reads show what the disk holds: old bytes where the write was
            // meant to go, its bytes where it went.
            refreshVolatile(write.inode, write.range)
            refreshVolatile(inode, offset..<(offset + data.count))
        }
        return StorageCompletion(tag: write.tag, result: .success(data.count))
    }
}

/// A flag with a condition variable: the wake-up of a queue's owner.
///
/// `wake()` sets the flag (wakes coalesce); the owner consumes it. `close()`
/// (at a power cut) releases a blocked owner for good. The flag has its own
/// mutex, never held while taking the disk's.
final class WakeSignal: @unchecked Sendable {
    private let lock = ConditionLock()
    private let condition: ConditionLock.Condition
    // Guarded by `lock`.
    private var woken = false
    private var closed = false

    init() {
        condition = ConditionLock.Condition(lock)
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.withLock(body)
    }

    func wake() {
        locked {
            woken = true
            condition.broadcast()
        }
    }

    func close() {
        locked {
            closed = true
            condition.broadcast()
        }
    }

    var isWoken: Bool { locked { woken } }
    var isClosed: Bool { locked { closed } }

    /// Clears the flag; returns whether it was set.
    func consume() -> Bool {
        locked {
            defer { woken = false }
            return woken
        }
    }

    /// Blocks until the flag is set (and clears it) or the signal is closed.
    func waitUntilWokenOrClosed() {
        locked {
            while !woken && !closed {
                condition.wait()
            }
            woken = false
        }
    }
}

struct SimulatedWaker: StorageWaker {
    let signal: WakeSignal
    func wake() { signal.wake() }
}
