public import JournalPrimitives
internal import CLiburing

#if canImport(Glibc)
import Glibc
#endif

/// An io_uring instance owned by exactly one thread.
///
/// The ring is noncopyable: it is created, used and destroyed by the thread
/// that owns it. Where the kernel has them the ring is set up with
/// `IORING_SETUP_COOP_TASKRUN` and `IORING_SETUP_SINGLE_ISSUER`; the second
/// makes the kernel refuse submissions from any other thread, so create the
/// ring on the thread that will submit.
///
/// Every failure is a typed `Errno`. `EINTR` is retried inside; `EAGAIN` and
/// `EBUSY` from a submission are returned to the caller as a count of zero
/// so that it can reap completions first.
public struct IORing: ~Copyable {
    /// The setup flags the kernel accepted.
    public struct Features: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let coopTaskRun = Features(rawValue: IORING_SETUP_COOP_TASKRUN)
        public static let singleIssuer = Features(rawValue: IORING_SETUP_SINGLE_ISSUER)
    }

    /// One completed request: the tag given at preparation and the kernel's
    /// result (a byte count, or a negated errno).
    public struct Completion: Sendable, Equatable {
        public var tag: UInt64
        public var result: Int32
        public init(tag: UInt64, result: Int32) {
            self.tag = tag
            self.result = result
        }
    }

    private let ring: UnsafeMutablePointer<io_uring>
    /// The setup flags in force.
    public let features: Features
    /// Submission queue entries prepared but not yet handed to the kernel.
    public private(set) var preparedCount: Int = 0

    /// Creates a ring of `entries` submission slots.
    ///
    /// The corresponding C function is `io_uring_queue_init_params`.
    public init(entries: UInt32) throws(Errno) {
        precondition(entries > 0 && entries <= 4096, "ring entries out of range")
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        ring.initialize(to: io_uring())
        // Newest flags first; drop them one by one on EINVAL (older kernels).
        let attempts: [Features] = [[.coopTaskRun, .singleIssuer], [.coopTaskRun], []]
        var lastError = Errno.invalidArgument
        for flags in attempts {
            var params = io_uring_params()
            params.flags = flags.rawValue
            let rc = io_uring_queue_init_params(entries, ring, &params)
            if rc == 0 {
                self.ring = ring
                self.features = flags
                return
            }
            lastError = Errno(rawValue: -rc)
            if lastError != .invalidArgument { break }
        }
        ring.deinitialize(count: 1)
        ring.deallocate()
        throw lastError
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deinitialize(count: 1)
        ring.deallocate()
    }

    /// Submission slots still free.
    public var freeSlots: Int { Int(io_uring_sq_space_left(ring)) }

    /// Prepares a positional write of `count` bytes at `buffer` to `fd` at
    /// `offset`. With `durable`, the write carries `RWF_DSYNC`: it completes
    /// only once the bytes are on stable storage.
    /// Returns false when the submission queue is full.
    ///
    /// The corresponding C function is `io_uring_prep_write`.
    public mutating func prepareWrite(
        fd: Int32, buffer: UnsafeRawPointer, count: Int, offset: Int64,
        durable: Bool, tag: UInt64
    ) -> Bool {
        Self.checkRange(count: count, offset: offset, "write size out of range")
        return prepare(tag: tag) { sqe in
            io_uring_prep_write(sqe, fd, buffer, UInt32(count), UInt64(offset))
            if durable { sqe.pointee.rw_flags = UInt32(RWF_DSYNC) }
        }
    }

    /// Prepares a positional read into `buffer`.
    ///
    /// The corresponding C function is `io_uring_prep_read`.
    public mutating func prepareRead(
        fd: Int32, buffer: UnsafeMutableRawPointer, count: Int, offset: Int64, tag: UInt64
    ) -> Bool {
        Self.checkRange(count: count, offset: offset, "read size out of range")
        return prepare(tag: tag) { io_uring_prep_read($0, fd, buffer, UInt32(count), UInt64(offset)) }
    }

    /// Prepares `fdatasync(fd)`. It covers only writes that completed before
    /// it starts: it does not order against writes still in flight.
    ///
    /// The corresponding C function is `io_uring_prep_fsync`.
    public mutating func prepareDataSync(fd: Int32, tag: UInt64) -> Bool {
        prepare(tag: tag) { io_uring_prep_fsync($0, fd, UInt32(IORING_FSYNC_DATASYNC)) }
    }

    /// Prepares a one-shot poll for readability of `fd` (used to wake the
    /// ring's owner through an eventfd).
    ///
    /// The corresponding C function is `io_uring_prep_poll_add`.
    public mutating func preparePollIn(fd: Int32, tag: UInt64) -> Bool {
        prepare(tag: tag) { io_uring_prep_poll_add($0, fd, UInt32(POLLIN)) }
    }

    /// Takes a free submission entry, lets `fill` prepare it, tags it and
    /// counts it as prepared; false when the submission queue is full.
    @inline(__always)
    private mutating func prepare(tag: UInt64, _ fill: (UnsafeMutablePointer<io_uring_sqe>) -> Void) -> Bool {
        guard let sqe = io_uring_get_sqe(ring) else { return false }
        fill(sqe)
        io_uring_sqe_set_data64(sqe, tag)
        preparedCount += 1
        return true
    }

    /// The limits of a positional read or write: a size the kernel's 32-bit
    /// length holds, at a non-negative offset.
    @inline(__always)
    private static func checkRange(count: Int, offset: Int64, _ sizeMessage: String) {
        precondition(count >= 0 && count <= Int(UInt32.max), sizeMessage)
        precondition(offset >= 0, "negative offset")
    }

    /// Hands every prepared entry to the kernel and, when `waitingFor` is
    /// positive, blocks until that many completions are ready.
    /// Returns the number of entries the kernel accepted.
    ///
    /// The corresponding C function is `io_uring_submit_and_wait`.
    @discardableResult
    public mutating func submit(waitingFor minimum: Int = 0) throws(Errno) -> Int {
        precondition(minimum >= 0)
        while true {
            let rc = io_uring_submit_and_wait(ring, UInt32(minimum))
            if rc >= 0 {
                preparedCount = max(0, preparedCount - Int(rc))
                return Int(rc)
            }
            let error = Errno(rawValue: -rc)
            switch error {
            case .interrupted: continue
            case .resourceTemporarilyUnavailable, .resourceBusy: return 0
            default: throw error
            }
        }
    }

    /// Blocks until at least one completion is ready (retrying `EINTR`).
    ///
    /// The corresponding C function is `io_uring_wait_cqe`.
    public mutating func waitForCompletion() throws(Errno) {
        while true {
            var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
            let rc = io_uring_wait_cqe(ring, &cqe)
            if rc == 0 { return }
            let error = Errno(rawValue: -rc)
            if error == .interrupted { continue }
            throw error
        }
    }

    /// Removes every ready completion from the queue and passes each to `body`
    /// in the order the kernel posted them. Returns how many there were.
    ///
    /// The corresponding C functions are `io_uring_peek_batch_cqe` and
    /// `io_uring_cq_advance`.
    @discardableResult
    public mutating func reapCompletions(_ body: (Completion) -> Void) -> Int {
        var total = 0
        let batch = 64
        return withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<io_uring_cqe>?.self, capacity: batch) { cqes in
            while true {
                let n = Int(io_uring_peek_batch_cqe(ring, cqes.baseAddress, UInt32(batch)))
                if n == 0 { return total }
                for i in 0..<n {
                    guard let cqe = cqes[i] else { continue }
                    body(Completion(tag: cqe.pointee.user_data, result: cqe.pointee.res))
                }
                io_uring_cq_advance(ring, UInt32(n))
                total += n
            }
        }
    }
}
