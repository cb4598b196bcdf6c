internal import CJournalShims
import Uring
import JournalStorage
import JournalPrimitives

#if canImport(Glibc)
import Glibc
#endif

/// Durable writes through io_uring. Each write carries `RWF_DSYNC` on top of
/// the file's `O_DSYNC`, so its completion means the bytes are on stable
/// storage. An eventfd polled through the ring lets other threads wake the
/// owner.
final class UringWriteQueue: StorageWriteQueue {
    private var ring: IORing
    let depth: Int
    private(set) var inFlightCount = 0
    private let alignment: Int
    private let eventFD: Int32
    private var pollArmed = false
    private var woken = false
    let waker: any StorageWaker
    /// Files of writes in flight, by tag, so that a file is not released (and
    /// its descriptor closed) while the kernel writes to it.
    private var inFlight: [UInt64: (file: FileSystemFile, count: Int)] = [:]

    private static let wakeTag = UInt64.max

    init(depth: Int, alignment: Int) throws(StorageError) {
        precondition(depth > 0 && depth <= 1024)
        do {
            // One slot for the wake-up poll.
            ring = try IORing(entries: UInt32(depth + 1))
        } catch {
            throw StorageError("io_uring_queue_init", path: "", errno: error)
        }
        self.depth = depth
        self.alignment = alignment
        let fd = cjournal_eventfd()
        if fd < 0 { throw StorageError("eventfd", path: "", errno: Errno(rawValue: Glibc.errno)) }
        eventFD = fd
        waker = EventFDWaker(fd: fd)
    }

    deinit {
        // Wait for writes still in flight: the kernel must not write from
        // buffers the owner is about to free.
        while inFlightCount > 0 {
            do { try ring.waitForCompletion() } catch { break }
            ring.reapCompletions { c in
                if c.tag != Self.wakeTag, inFlight.removeValue(forKey: c.tag) != nil { inFlightCount -= 1 }
            }
        }
        _ = Glibc.close(eventFD)
    }

    func submit(_ write: StorageWrite) throws(StorageError) {
        precondition(inFlightCount < depth, "write queue overfull")
        precondition(write.offset % alignment == 0 && write.count % alignment == 0, "unaligned write")
        precondition(Int(bitPattern: write.buffer) % alignment == 0, "unaligned buffer")
        precondition(write.tag != Self.wakeTag && inFlight[write.tag] == nil, "tag in use")
        guard let file = write.file as? FileSystemFile else {
            preconditionFailure("a FileSystemStorage queue writes FileSystemStorage files")
        }
        let ok = ring.prepareWrite(
            fd: file.fd, buffer: write.buffer, count: write.count,
            offset: Int64(write.offset), durable: true, tag: write.tag)
        assert(ok, "the ring has a slot for every write up to depth")
        inFlight[write.tag] = (file, write.count)
        inFlightCount += 1
    }

    func flush() throws(StorageError) {
        while ring.preparedCount > 0 {
            do {
                let n = try ring.submit()
                if n == 0 {
                    // EAGAIN/EBUSY: the completion queue is full; make room.
                    _ = reap { _ in }
                }
            } catch {
                throw StorageError("io_uring_submit", path: "", errno: error)
            }
        }
    }

    private func reap(_ body: (StorageCompletion) -> Void) -> Int {
        var count = 0
        ring.reapCompletions { c in
            if c.tag == Self.wakeTag {
                pollArmed = false
                woken = true
                var value: UInt64 = 0
                _ = Glibc.read(eventFD, &value, 8)
                return
            }
            guard let entry = inFlight.removeValue(forKey: c.tag) else {
                assertionFailure("completion for an unknown tag")
                return
            }
            inFlightCount -= 1
            count += 1
            let result: Result<Int, StorageError>
            if c.result < 0 {
                result = .failure(StorageError("io_uring write", path: entry.file.name, errno: Errno(rawValue: -c.result)))
            } else if Int(c.result) != entry.count {
                // A short direct write: out of space, or the device failed part way.
                result = .failure(StorageError("io_uring write (short)", path: entry.file.name, errno: .noSpace))
            } else {
                result = .success(Int(c.result))
            }
            body(StorageCompletion(tag: c.tag, result: result))
        }
        return count
    }

    func pollCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        try flush()
        return reap(body)
    }

    func waitForCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        var count = reap(body)
        if count > 0 { return count }
        if woken {
            woken = false
            return 0
        }
        if !pollArmed {
            let ok = ring.preparePollIn(fd: eventFD, tag: Self.wakeTag)
            assert(ok, "the ring keeps a slot for the wake-up poll")
            pollArmed = true
        }
        while count == 0 && !woken {
            do {
                try ring.submit(waitingFor: 1)
            } catch {
                throw StorageError("io_uring_submit_and_wait", path: "", errno: error)
            }
            count = reap(body)
        }
        woken = false
        return count
    }
}

struct EventFDWaker: StorageWaker {
    let fd: Int32
    func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }
}
