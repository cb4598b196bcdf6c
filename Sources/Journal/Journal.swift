import JournalPrimitives
public import JournalStorage
import Logging
import Metrics
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// The journal: a directory of segment files that many threads or tasks
// append to at once, each append returning when its bytes are durable.
//
// Writer protocol (checked by Tools/promela/groupcommit.pml):
// - One lock guards the writer state: at most one *filling* batch, a FIFO of
//   *sealed* batches, the batches *in flight* in submission order, and a
//   fixed pool of free batch buffers (inFlightBatchesMax + 2).
// - An appender, under the lock, assigns the next LSN and reserves room for
//   its record in the filling batch (sealing it and starting another when
//   full). With no free buffer it waits: memory stays bounded when appenders
//   outrun the disk. A small record is written into its room at once, under
//   the lock; a large one (`JournalOptions.copyOutsideLockBytes`) is copied and checksummed
//   after the lock is let go, so that appenders of large records copy at the
//   same time and never hold up the I/O thread; the batch counts such copies
//   still running (`pendingCopies`). If the I/O thread sleeps and could
//   submit, the appender wakes it (after its copy, for a large record).
// - The I/O thread moves sealed batches, then the filling batch if it holds
//   records, in flight while fewer than inFlightBatchesMax are, stopping at
//   the first batch with a copy pending; there is no timer and no artificial
//   delay: a batch fills exactly while the disk is busy with the ones before
//   it. Before submitting a batch, outside the lock, the I/O thread chains
//   its fragment headers (each holds the checksum of the one before, and the
//   first of a segment that of the segment header, which it writes then).
//   Batches are chained in submission order, which is LSN order.
// - Completions arrive in any order. The durable LSN advances only over the
//   completed prefix of the in-flight FIFO: never past a batch still in
//   flight. Appenders waiting on an LSN at or below it are released.
// - A failed write poisons the journal: every waiter beyond the durable LSN
//   and every later append fails until the journal is reopened.
// - Inline writes (`JournalOptions.inlineWrites`): an appender about to wait
//   for its record that finds, under the lock, no batch in flight or sealed
//   and no copy pending in the filling batch (which holds its record) takes
//   that batch itself: seals it, moves it in flight (so nobody else adds to
//   or submits it), and chains it while still holding the lock. Then, outside
//   the lock, it writes it durably (`StorageFile.writeDurably`: the ring is
//   the I/O thread's alone) and completes it as a ring completion would be:
//   durable LSN over the completed prefix, waiters woken, a failure poisons.
//   Who chains: `chainedCRC` is advanced in submission order by whoever moves
//   a batch in flight; the I/O thread chains its batches outside the lock,
//   but they stay in flight until they complete, so "nothing in flight"
//   means the I/O thread is not chaining, and the inline appender chains
//   under the lock; the I/O thread moves the next batch in flight (and then
//   chains it) only after that, under the same lock. Meanwhile the I/O
//   thread submits later batches to the ring as usual (the inline batch
//   counts in flight, first in the FIFO, so nothing becomes durable past it)
//   but never waits on the ring for the inline write: the ring does not hold
//   it (`inlineInFlight`). The inline appender wakes the I/O thread when it
//   completes if the I/O thread sleeps and has work, or the journal closes.
//   Which appenders may: threads with `inlineWrites`; tasks while the
//   device is fast (`Writer/TaskInlineGate.swift`) and few tasks are
//   appending (`Writer/TaskAppend.swift`), or always with
//   `inlineWritesFromTasks` (`InlineWritePolicy`).

//
// Where the code lives: this file holds the journal's state, its opening
// (`Journal+Opening.swift`) and closing; `Journal+Appending.swift` the
// public append and wait API; `Writer/` placement, inline writes, the
// writer round, chaining, completion and durability waiters; `Segments/`
// segment preparation, recycling and truncation; `Reading/` reads and the
// pins that keep a segment mapped while it is read; `Follow/` followers,
// woken where the durable LSN is published; `Recovery/` what an
// open does to find the end of the log.

/// A write-ahead log: durable, group-committed appends; zero-copy reads of
/// committed records; recovery that tells a torn tail from corruption.
///
/// Thread safety: every method may be called from any thread or task.
/// Durability: `append` returns only once the record, and every record with
/// a lower LSN, is on stable storage. A failed durable write poisons the
/// journal: every later append and every waiter fails until it is reopened.
public final class Journal: @unchecked Sendable {
    /// The directory the journal lives in.
    public let storage: any StorageDirectory
    /// The parameters the journal was created with.
    public let configuration: JournalConfiguration
    /// The options the journal was opened with.
    public let options: JournalOptions
    /// What recovery found when the journal was opened.
    public let recoveryReport: RecoveryReport
    /// True for a journal opened with `openForReading`.
    public let isReadOnly: Bool

    let metadata: JournalMetadata
    let layout: FragmentLayout
    let blockBytes: Int
    let batchCapacity: Int
    let windowBytes: Int
    let logger: Logger
    /// False only under the `skipPayloadChecksums` test defect.
    let verifiesPayloads: Bool
    /// The deliberate defects a test switched on (`JournalOptions.testingDefects`);
    /// nil in every other journal, so the writer's own paths never see them.
    let defects: DefectInjector?

    // MARK: State guarded by `lock`

    let lock = ConditionLock()
    /// Broadcast when a batch buffer or a spare segment frees up, and on
    /// poison and close.
    lazy var spaceChanged = ConditionLock.Condition(lock)
    /// Signalled when the writer needs a spare segment.
    lazy var preparerWork = ConditionLock.Condition(lock)
    /// Broadcast when the last reader of a segment unpins it.
    lazy var readersDone = ConditionLock.Condition(lock)

    /// Live segments, oldest first. The last is the one being written.
    var segments: [Segment]
    /// Prepared segments, next index first.
    var spares: [Segment] = []
    /// Released files kept for reuse (`spare-*.seg`).
    var recyclable: [String]
    var nextSegmentIndex: UInt64
    /// Where the next batch starts in the last live segment.
    var writeOffset: Int
    /// LSN of the last record placed.
    var lastLSN: LSN
    let epoch: UInt32
    var firstLSN: LSN

    var filling: Batch?
    var sealed: [Batch] = []
    var inFlight: [Batch] = []
    var freeBatches: [Batch]
    let batchesByTag: [Batch]
    /// The memory of the batches' buffers (outlives them).
    let batchArena: BatchArena?
    /// The last LSN of the completed prefix of the in-flight FIFO: what the
    /// durable LSN advances to. Increases with every batch freed.
    var completedLSN: LSN

    var poison: StorageError?
    var prepareFailure: StorageError?
    /// In-flight batches an appender is writing itself (0 or 1): in
    /// `inFlight` (first), not in the write queue.
    var inlineInFlight = 0
    /// Whether async appends may write inline (`Writer/TaskInlineGate.swift`).
    var taskInlineGate = TaskInlineGate()
    var closing = false
    var closed = false
    /// A close a listener's handler began, whose rest (`finishClosing`)
    /// another thread runs (`Follow/ListenerReentry.swift`).
    var deferredClose = DeferredClose.none
    /// A handler began a close that its delivery has yet to hand on.
    let closeToHandOn = Atomic<Bool>(false)
    /// Broadcast when a deferred close is finished.
    lazy var deferredCloseDone = ConditionLock.Condition(lock)
    var ioSleeping = false
    /// The write queue itself failed (not one write): no completion will come.
    var queueBroken = false
    var ioWaker: (any StorageWaker)?
    /// Appenders waiting for an LSN to become durable: tasks or threads.
    var durableWaiters: [(lsn: LSN, waiter: DurabilityWaiter)] = []
    /// Followers waiting for records to become durable (`Follow/`); its own
    /// lock, taken after this one.
    let followers = FollowerHub()
    /// For a journal open for following: the thread that reads on as the
    /// writer in another process publishes (`Follow/LogTail.swift`).
    var tail: LogTail?
    /// Tasks waiting for a batch buffer or a segment (`enqueueSuspending`);
    /// each resumed once, by whoever empties the list under the lock.
    var spaceWaiters: [UnsafeContinuation<Void, Never>] = []
    /// Unnamed reader positions and the truncation floor (`Retention/`).
    let retention = RetentionState()
    /// How segments were prepared since open.
    var segmentCounts = SegmentCounts()

    /// The highest LSN on stable storage; readable without the lock.
    let durable: Atomic<UInt64>
    /// Tasks inside `append`, from its call to its return: a task writes
    /// inline only while they are few (`Writer/TaskAppend.swift`).
    let taskAppenders = Atomic<Int>(0)
    var directoryLock: (any StorageLock)?
    var ioThread: JoinableThread?
    var preparerThread: JoinableThread?
    /// The write queue in manual runtime (owned by the pumping thread).
    var manualQueue: (any StorageWriteQueue)?

    // MARK: State owned by the thread that chains batches

    /// Header checksum of the last fragment chained (or of the segment
    /// header, at a segment's start): what the next batch chains to. Only
    /// the I/O thread, or an inline writer while nothing else is in flight,
    /// touches it (see "Who chains" above).
    var chainedCRC: UInt32

    // MARK: Metrics

    let appendLatency: Metrics.Timer
    /// Whether appends read the clock for `appendLatency`: not when the
    /// process never bootstrapped a metrics backend (the timer, made at
    /// open, then drops every value), which saves two clock reads per append.
    let timesAppends: Bool
    let writeLatency: Metrics.Timer
    let batchRecords: Recorder
    let batchBytes: Recorder
    let bytesWritten: Counter
    /// Batches written inline by their appender (the rest by the I/O thread).
    let inlineWrites: Counter
    /// Segments prepared by zero-filling a new file, by reusing a released
    /// one, and released files deleted rather than kept.
    let segmentsZeroFilled: Counter
    let segmentsReused: Counter
    let segmentsDeleted: Counter

    init(storage: any StorageDirectory, metadata: JournalMetadata, recovered: RecoveredLog, options: JournalOptions, readOnly: Bool) throws(JournalError) {
        self.storage = storage
        self.metadata = metadata
        self.options = options
        self.isReadOnly = readOnly
        self.recoveryReport = recovered.report
        self.logger = options.logger
        var config = JournalConfiguration()
        config.segmentBytes = metadata.segmentBytes
        config.segmentCountMax = metadata.segmentCountMax
        config.recordBytesMax = metadata.recordBytesMax
        config.blockBytes = metadata.blockBytes
        config.pageBytes = metadata.pageBytes
        self.configuration = config
        self.layout = FragmentLayout(pageBytes: metadata.pageBytes)
        self.blockBytes = metadata.blockBytes
        guard metadata.blockBytes % storage.ioAlignment == 0 else {
            throw .invalidArgument("the journal's block size \(metadata.blockBytes) is not a multiple of this file system's direct-I/O alignment \(storage.ioAlignment)")
        }
        // A batch holds at least one record of the maximum size, wherever in
        // a block it starts.
        let largest = layout.encodedEnd(payloadBytes: metadata.recordBytesMax, at: JournalFormat.segmentHeaderBytes) + metadata.blockBytes
        self.batchCapacity = roundUp(max(options.batchBytesMax, largest), metadata.blockBytes)
        self.windowBytes = options.inFlightBatchesMax * batchCapacity
        self.segments = recovered.segments
        self.recyclable = recovered.spareNames
        self.lastLSN = recovered.chain.lastLSN
        self.chainedCRC = recovered.chain.lastCRC
        self.epoch = recovered.nextEpoch
        self.writeOffset = recovered.writeOffset
        self.firstLSN = recovered.report.recordCount > 0 ? recovered.report.firstLSN : recovered.chain.lastLSN + 1
        self.nextSegmentIndex = max(recovered.highestIndex, recovered.segments.last?.index ?? 0) + 1
        self.durable = Atomic(recovered.chain.lastLSN)
        self.completedLSN = recovered.chain.lastLSN
        self.verifiesPayloads = !options.testingDefects.contains(.skipPayloadChecksums)
        self.defects = options.testingDefects.isEmpty ? nil : DefectInjector(options.testingDefects)
        let batchCount = readOnly ? 0 : options.inFlightBatchesMax + 2
        let capacity = batchCapacity
        let arena = batchCount > 0
            ? try BatchArena(count: batchCount, capacity: capacity, alignment: storage.ioAlignment, hugePages: options.hugePageBatches)
            : nil
        self.batchArena = arena
        let batches = arena.map { arena in (0..<arena.count).map { Batch(tag: UInt64($0), buffer: arena.buffer($0)) } } ?? []
        self.batchesByTag = batches
        self.freeBatches = batches.reversed()
        let prefix = options.metricsPrefix
        self.appendLatency = Metrics.Timer(label: "\(prefix).append.latency")
        self.timesAppends = !(MetricsSystem.factory is NOOPMetricsHandler)
        self.writeLatency = Metrics.Timer(label: "\(prefix).write.latency")
        self.batchRecords = Recorder(label: "\(prefix).batch.records")
        self.batchBytes = Recorder(label: "\(prefix).batch.bytes")
        self.bytesWritten = Counter(label: "\(prefix).bytes.written")
        self.inlineWrites = Counter(label: "\(prefix).write.inline")
        self.segmentsZeroFilled = Counter(label: "\(prefix).segments.zero_filled")
        self.segmentsReused = Counter(label: "\(prefix).segments.reused")
        self.segmentsDeleted = Counter(label: "\(prefix).segments.deleted")
        logger.info("journal recovered", metadata: [
            "path": "\(storage.path)", "result": "\(recovered.report)", "epoch": "\(epoch)", "readOnly": "\(readOnly)",
        ])
    }

    deinit {
        if !closed && (!isReadOnly || tail != nil) {
            close()
        }
    }

    // MARK: Public state

    /// The highest LSN such that its record and every record below it are
    /// on stable storage (0: none). Never decreases while the journal is
    /// open; advances only over the completed prefix of the writes in
    /// flight.
    ///
    /// Lock-free (one atomic load): read it from any thread, as often as
    /// needed.
    /// - Complexity: O(1).
    public var durableLSN: LSN { durable.load(ordering: .acquiring) }

    /// The lowest LSN still in the journal (after truncation). When the
    /// journal is empty, the LSN the next record will get.
    ///
    /// Takes the journal's lock briefly; a snapshot that a concurrent
    /// `truncate(before:)` may change.
    public var oldestLSN: LSN { lock.withLock { firstLSN } }

    /// The LSN the next appended record will get: a snapshot, since
    /// concurrent appenders may take it first. Takes the journal's lock
    /// briefly.
    public var nextLSN: LSN { lock.withLock { lastLSN + 1 } }

    /// One live segment, as `segmentSummaries` reports it.
    public struct SegmentSummary: Sendable, Equatable {
        /// The segment's file name in the journal's directory.
        public var name: String
        /// The LSN of the segment's first record.
        public var baseLSN: LSN
        /// The LSN of the last record that starts in the segment (0: none yet).
        public var lastLSN: LSN
    }

    /// Live segments, oldest first. A snapshot: appends and truncation may
    /// change the list as soon as it is returned.
    public var segmentSummaries: [SegmentSummary] {
        lock.withLock { segments.map { SegmentSummary(name: $0.name, baseLSN: $0.header?.baseLSN ?? 0, lastLSN: $0.lastLSN) } }
    }

    /// The batch buffers' memory: how much, and how much of it the kernel
    /// backs with huge pages (`JournalOptions.hugePageBatches`).
    public struct BatchMemory: Sendable, Equatable {
        /// Bytes of the batch buffers' region, all touched at open.
        public var bytes: Int
        /// From `/proc/self/smaps`; nil where that is unreadable.
        public var hugePageBytes: Int?
    }

    /// The batch buffers' memory; nil for a journal open for reading only
    /// (it has no batches). Reads `/proc/self/smaps`: for monitoring, not
    /// for a hot path.
    public var batchMemory: BatchMemory? {
        batchArena.map { BatchMemory(bytes: $0.region.count, hugePageBytes: $0.hugePageBacking()) }
    }

    // MARK: Closing

    /// Writes everything enqueued, stops the writer and releases the lock.
    /// Idempotent. Waiters still pending fail with `closed`.
    ///
    /// Blocks the calling thread until the writes in flight complete and
    /// the writer threads have stopped; every record enqueued before the
    /// call is then durable unless a write failed (poisoned). Later appends
    /// fail with `JournalError.closed`. Thread-safe; runs on deinit if not
    /// called.
    ///
    /// From inside a listener's handler (`listen(from:onRecord:onEnd:)`),
    /// whose thread the close would wait for, it returns at once: the
    /// journal is closing (later appends fail with `closed`), and a thread
    /// of its own finishes the close once the handler has returned.
    public func close() {
        lock.lock()
        if closed || closing {
            lock.unlock()
            // A close a handler began: finish it here, or wait for it.
            if !isInsideListener && takeDeferredClose(waiting: true) { finishClosing() }
            return
        }
        closing = true
        let waker = ioWaker
        preparerWork.broadcast()
        spaceChanged.broadcast()
        let spaceReady = spaceWaiters
        spaceWaiters.removeAll()
        lock.unlock()
        for c in spaceReady { c.resume() }
        waker?.wake()
        // From a listener's handler the threads joined below include the
        // handler's own: the rest runs after it (Follow/ListenerReentry.swift).
        if isInsideListener { return deferCloseAfterHandler() }
        finishClosing()
    }

    /// The rest of `close()`, once the journal is closing: waits for the
    /// writer's threads, then fails the waiters and ends the followers.
    func finishClosing() {
        assert(!isInsideListener, "a handler's thread would join itself")
        if options.runtime == .threads {
            ioThread?.join()
            preparerThread?.join()
        } else if let queue = manualQueue {
            while writerRound(queue, blocking: true) {}
        }
        lock.lock()
        closed = true
        let waiters = durableWaiters
        durableWaiters.removeAll()
        lock.unlock()
        for w in waiters { w.waiter.fail(.closed) }
        tail?.stop()
        followers.close(durable: durableLSN)
        releasePositionClaims()
        manualQueue = nil
        directoryLock?.unlock()
        directoryLock = nil
        endDeferredClose()
    }

}
