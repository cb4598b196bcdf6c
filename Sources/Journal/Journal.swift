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

/// A write-ahead log: durable, group-committed appends; zero-copy reads of
/// committed records; recovery that tells a torn tail from corruption.
///
/// Thread safety: every method may be called from any thread or task.
/// Durability: `append` returns only once the record, and every record with
/// a lower LSN, is on stable storage.
public final class Journal: @unchecked Sendable {
    /// The directory the journal lives in.
    public let storage: any StorageDirectory
    /// The parameters the journal was created with.
    public let configuration: JournalConfiguration
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

    // MARK: State guarded by `lock`

    let lock = ConditionLock()
    private lazy var spaceChanged = ConditionLock.Condition(lock)
    private lazy var preparerWork = ConditionLock.Condition(lock)
    private lazy var readersDone = ConditionLock.Condition(lock)

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
    /// Under the `rewriteAcknowledgedBlocks` defect: the length of the last
    /// sealed batch's final, partial block, which the next batch rewrites.
    var carriedBytes = 0
    var sealed: [Batch] = []
    var inFlight: [Batch] = []
    var freeBatches: [Batch]
    let batchesByTag: [Batch]
    /// The memory of the batches' buffers (outlives them).
    private let batchArena: BatchArena?

    var poison: StorageError?
    var prepareFailure: StorageError?
    /// In-flight batches an appender is writing itself (0 or 1): in
    /// `inFlight` (first), not in the write queue.
    var inlineInFlight = 0
    var closing = false
    var closed = false
    var ioSleeping = false
    /// The write queue itself failed (not one write): no completion will come.
    var queueBroken = false
    var ioWaker: (any StorageWaker)?
    /// Appenders waiting for an LSN to become durable: tasks or threads.
    var durableWaiters: [(lsn: LSN, waiter: DurabilityWaiter)] = []
    var spaceWaiters: [CheckedContinuation<Void, Never>] = []

    /// The highest LSN on stable storage; readable without the lock.
    private let durable: Atomic<UInt64>
    private var directoryLock: (any StorageLock)?
    private var ioThread: JoinableThread?
    private var preparerThread: JoinableThread?
    /// The write queue in manual runtime (owned by the pumping thread).
    private var manualQueue: (any StorageWriteQueue)?

    // MARK: State owned by the thread that runs `writerRound`

    /// Header checksum of the last fragment chained (or of the segment
    /// header, at a segment's start): what the next batch chains to.
    private var chainedCRC: UInt32
    /// Under the `rewriteAcknowledgedBlocks` defect: the last chained batch's
    /// final, partial block.
    private var carriedBlock: [UInt8] = []

    // Metrics.
    let appendLatency: Metrics.Timer
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
    /// The same, since open. Lock held.
    private var segmentCounts = SegmentCounts()

    // MARK: Creating and opening

    /// Creates an empty journal in `storage`'s directory.
    ///
    /// Fails with `alreadyExists` if the directory holds a journal, and with
    /// `invalidArgument` if the configuration is inconsistent.
    public static func create(
        storage: any StorageDirectory, configuration: JournalConfiguration = JournalConfiguration(),
        journalID: UInt64? = nil
    ) throws(JournalError) {
        let hold: any StorageLock
        do { hold = try storage.lockExclusive() } catch { throw JournalError.from(error) }
        defer { hold.unlock() }
        let names: [String]
        do { names = try storage.fileNames() } catch { throw JournalError.from(error) }
        if names.contains(JournalFormat.metadataFileName) || names.contains(where: { JournalFormat.segmentIndex(fileName: $0) != nil }) {
            throw .alreadyExists(path: storage.path)
        }
        let block = configuration.blockBytes ?? max(storage.ioAlignment, 4096)
        guard block % storage.ioAlignment == 0 else {
            throw .invalidArgument("block size \(block) is not a multiple of the file system's direct-I/O alignment \(storage.ioAlignment)")
        }
        var random = SystemRandomNumberGenerator()
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let meta = JournalMetadata(
            journalID: journalID ?? random.next(), segmentBytes: configuration.segmentBytes,
            segmentCountMax: configuration.segmentCountMax, recordBytesMax: configuration.recordBytesMax,
            blockBytes: block, pageBytes: configuration.pageBytes,
            createdUnixNanos: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
        if let problem = meta.validationProblem() { throw .invalidArgument(problem) }
        let size = roundUp(JournalFormat.metadataBytes, storage.ioAlignment)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: max(storage.ioAlignment, 4096))
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        meta.encode(into: buffer)
        // Written under a temporary name and renamed: the metadata file is
        // either absent or whole.
        let temporary = JournalFormat.metadataFileName + ".new"
        do {
            if names.contains(temporary) { try storage.remove(temporary) }
            let file = try storage.createZeroFilled(temporary, bytes: size)
            try file.writeDurably(UnsafeRawBufferPointer(buffer), at: 0)
            file.close()
            try storage.rename(temporary, to: JournalFormat.metadataFileName)
        } catch {
            throw JournalError.from(error)
        }
    }

    /// Opens the journal for appending: takes the writer lock, recovers, and
    /// starts the writer.
    public static func open(storage: any StorageDirectory, options: JournalOptions = JournalOptions()) throws(JournalError) -> Journal {
        guard options.inFlightBatchesMax >= 1 && options.inFlightBatchesMax <= 64 else {
            throw .invalidArgument("inFlightBatchesMax must be in 1...64")
        }
        guard options.batchBytesMax >= 4096 else { throw .invalidArgument("batchBytesMax must be at least 4096") }
        // Rollover moves the writer into a spare: with none kept ready it
        // would wait for one forever.
        guard options.spareSegments >= 1 else { throw .invalidArgument("spareSegments must be at least 1") }
        guard options.recycledSegmentsMax >= 0 else { throw .invalidArgument("recycledSegmentsMax must not be negative") }
        let hold: any StorageLock
        do { hold = try storage.lockExclusive() } catch { throw JournalError.from(error) }
        do {
            let meta = try Recovery.readMetadata(storage, writable: true)
            var recovery = Recovery(storage: storage, metadata: meta, mode: options.recovery, writable: true)
            recovery.verifiesPayloads = !options.testingDefects.contains(.skipPayloadChecksums)
            let recovered = try recovery.run()
            let journal = try Journal(storage: storage, metadata: meta, recovered: recovered, options: options, readOnly: false)
            journal.directoryLock = hold
            try journal.startWriter(recovered: recovered)
            return journal
        } catch {
            hold.unlock()
            throw error
        }
    }

    /// Opens the journal for reading only: no lock, no writer. Recovery runs
    /// (and writes nothing); the durable LSN is the last valid record.
    public static func openForReading(storage: any StorageDirectory, recovery: RecoveryMode = .tolerateTornTail) throws(JournalError) -> Journal {
        let meta = try Recovery.readMetadata(storage, writable: false)
        let recovered = try Recovery(storage: storage, metadata: meta, mode: recovery, writable: false).run()
        var options = JournalOptions()
        options.recovery = recovery
        options.runtime = .manual
        return try Journal(storage: storage, metadata: meta, recovered: recovered, options: options, readOnly: true)
    }

    private init(storage: any StorageDirectory, metadata: JournalMetadata, recovered: RecoveredLog, options: JournalOptions, readOnly: Bool) throws(JournalError) {
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

    /// Removes leftovers, arranges the segments past the log as spares, and
    /// starts the background threads.
    private func startWriter(recovered: RecoveredLog) throws(JournalError) {
        do {
            for name in recovered.leftoverNames where name.hasSuffix(".tmp") || name == JournalFormat.metadataFileName + ".new" {
                try storage.remove(name)
            }
            // Files past the log become the next segments when their indices
            // follow on; others are set aside for reuse.
            var expected = segments.last.map { $0.index + 1 }
            for segment in recovered.unusedSegments {
                if expected == nil || segment.index == expected {
                    spares.append(segment)
                    expected = segment.index + 1
                } else {
                    let name = JournalFormat.spareFilePrefix + "\(segment.index)" + JournalFormat.segmentFileSuffix
                    try storage.rename(segment.name, to: name)
                    recyclable.append(name)
                }
            }
        } catch {
            throw JournalError.from(error)
        }
        nextSegmentIndex = max(nextSegmentIndex, (spares.last?.index ?? 0) + 1)
        if options.runtime == .threads {
            ioThread = JoinableThread(name: "journal-io") { [self] in self.runIOThread() }
            preparerThread = JoinableThread(name: "journal-prep") { [self] in self.runPreparerThread() }
        }
    }

    deinit {
        if !closed && !isReadOnly {
            close()
        }
    }

    // MARK: Public state

    /// The highest LSN whose record is on stable storage (0: none).
    /// Never decreases while the journal is open.
    public var durableLSN: LSN { durable.load(ordering: .acquiring) }

    /// The lowest LSN still in the journal (after truncation). When the
    /// journal is empty, the LSN the next record will get.
    public var oldestLSN: LSN { lock.withLock { firstLSN } }

    /// The LSN the next appended record will get.
    public var nextLSN: LSN { lock.withLock { lastLSN + 1 } }

    /// Live segments (name, base LSN, last LSN), oldest first.
    public var segmentSummaries: [(name: String, baseLSN: LSN, lastLSN: LSN)] {
        lock.withLock { segments.map { ($0.name, $0.header?.baseLSN ?? 0, $0.lastLSN) } }
    }

    // MARK: Appending

    /// Room reserved for a record in a batch, which the appender fills
    /// outside the lock with `fill(_:_:)`.
    struct Reservation {
        let batch: Batch
        let lsn: LSN
        let committedLSN: LSN
        /// Segment offsets: where the record goes (or the next fragment
        /// start) and just past it.
        let offset: Int
        let end: Int
        /// Segment offset of the batch buffer's byte 0.
        let base: Int
        let seed: UInt32
    }

    enum Placement {
        /// Written into its batch.
        case placed(LSN)
        /// Room reserved; the appender writes the record and calls `fill`.
        case reserved(Reservation)
        case waitForSpace
        case failed(JournalError)
    }

    /// Tries to place one record in the filling batch. Lock held.
    private func placeLocked(_ payload: UnsafeRawBufferPointer) -> Placement {
        if let poison { return .failed(.poisoned(poison)) }
        if closing || closed { return .failed(.closed) }
        if isReadOnly { return .failed(.invalidArgument("journal is open for reading only")) }
        guard payload.count <= metadata.recordBytesMax else {
            return .failed(.recordTooLarge(bytes: payload.count, max: metadata.recordBytesMax))
        }
        while true {
            if filling == nil {
                guard let batch = freeBatches.popLast() else { return .waitForSpace }
                if let active = segments.last, let header = active.header, writeOffset < metadata.segmentBytes {
                    batch.start(segment: active, at: writeOffset)
                    batch.seed = header.fragmentSeed
                    // A segment whose header is not written yet starts with it.
                    if writeOffset == 0 && carriedBytes == 0 { batch.usedBytes = JournalFormat.segmentHeaderBytes }
                    if carriedBytes > 0 {
                        // Test defect: start inside the last block, rewriting
                        // its bytes (copied in when the batch is chained).
                        batch.carriedBytes = carriedBytes
                        batch.usedBytes = carriedBytes
                        carriedBytes = 0
                    }
                    filling = batch
                } else {
                    switch activateNextSegmentLocked(batch) {
                    case .placed: break
                    case let other:
                        freeBatches.append(batch)
                        return other
                    }
                }
            }
            guard let batch = filling, let segment = batch.segment, let header = segment.header else {
                preconditionFailure("a filling batch belongs to an activated segment")
            }
            let cursor = batch.fileOffset + batch.usedBytes
            let end = layout.encodedEnd(payloadBytes: payload.count, at: cursor)
            let batchLimit = batch.recordCount == 0 ? batchCapacity : min(batchCapacity, options.batchBytesMax)
            let fitsSegment = roundUp(end, blockBytes) <= metadata.segmentBytes
            let fitsBatch = roundUp(end - batch.fileOffset, blockBytes) <= batchLimit
            if fitsSegment && fitsBatch {
                let lsn = lastLSN + 1
                let committed = durable.load(ordering: .relaxed)
                let start = layout.fragmentStart(atOrAfter: cursor)
                assert(batch.seed == header.fragmentSeed, "a batch carries its segment's seed")
                segment.noteRecord(lsn: lsn, offset: start)
                if batch.recordCount == 0 {
                    batch.firstLSN = lsn
                    batch.chainStart = start
                }
                batch.usedBytes = end - batch.fileOffset
                batch.lastLSN = lsn
                batch.recordCount += 1
                lastLSN = lsn
                if payload.count < options.copyOutsideLockBytes {
                    let encoder = RecordEncoder(layout: layout, seed: batch.seed, epoch: epoch)
                    let recordEnd = encoder.encodeUnchained(payload, lsn: lsn, committedLSN: committed, into: batch.buffer, base: batch.fileOffset, at: cursor)
                    assert(recordEnd == end, "the encoder and the layout agree")
                    return .placed(lsn)
                }
                batch.pendingCopies += 1
                return .reserved(Reservation(
                    batch: batch, lsn: lsn, committedLSN: committed, offset: cursor, end: end,
                    base: batch.fileOffset, seed: batch.seed))
            }
            if batch.recordCount > 0 {
                sealFillingLocked()
                continue
            }
            // An empty batch at a segment's end: the record goes to the next segment.
            assert(!fitsSegment, "an empty batch holds any record that fits the segment")
            filling = nil
            switch activateNextSegmentLocked(batch) {
            case .placed: continue
            case let other:
                batch.reset()
                freeBatches.append(batch)
                return other
            }
        }
    }

    /// Writes a reserved record into its batch, outside the lock, and
    /// wakes the I/O thread if it was waiting for this copy. With `inline`,
    /// returns the batch when this was its last copy and the appender may
    /// write it itself (`takeInlineLocked`).
    private func fill(_ r: Reservation, _ payload: UnsafeRawBufferPointer, inline: Bool) -> Batch? {
        let encoder = RecordEncoder(layout: layout, seed: r.seed, epoch: epoch)
        let end = encoder.encodeUnchained(payload, lsn: r.lsn, committedLSN: r.committedLSN, into: r.batch.buffer, base: r.base, at: r.offset)
        assert(end == r.end, "the encoder and the layout agree")
        lock.lock()
        assert(r.batch.pendingCopies > 0 && r.batch.state != .free && r.batch.state != .inFlight, "a batch waits for its copies")
        r.batch.pendingCopies -= 1
        var taken: Batch?
        var waker: (any StorageWaker)?
        if r.batch.pendingCopies == 0 {
            taken = inline ? takeInlineLocked(holding: r.lsn) : nil
            waker = nudgeWriterLocked()
        }
        lock.unlock()
        waker?.wake()
        return taken
    }

    // MARK: Inline writes

    /// Takes the filling batch for an inline write if the journal is idle:
    /// nothing in flight or sealed, no copy pending, the batch holding `lsn`.
    /// Seals it, moves it in flight and chains it. Lock held.
    private func takeInlineLocked(holding lsn: LSN) -> Batch? {
        guard poison == nil, !closing, !queueBroken, inFlight.isEmpty, sealed.isEmpty,
              let batch = filling, batch.recordCount > 0, batch.pendingCopies == 0 else { return nil }
        assert(inlineInFlight == 0, "an inline write is in flight only while its batch is")
        assert(batch.firstLSN <= lsn && lsn <= batch.lastLSN, "the filling batch holds the appender's record")
        sealFillingLocked()
        let taken = sealed.removeFirst()
        assert(taken === batch && sealed.isEmpty)
        taken.state = .inFlight
        taken.inline = true
        inFlight.append(taken)
        inlineInFlight = 1
        guard let segment = taken.segment else { preconditionFailure("a batch in flight has a segment") }
        // Nothing else is in flight, so the I/O thread is not chaining; it
        // chains the next batch only after taking the lock again.
        chain(taken, segment, lockHeld: true)
        return taken
    }

    /// Writes a batch taken by `takeInlineLocked` durably, from the calling
    /// thread, and completes it. A failure poisons the journal, as a failed
    /// queue write does.
    private func writeInline(_ batch: Batch) {
        guard let segment = batch.segment else { preconditionFailure("a batch in flight has a segment") }
        assert(batch.inline && batch.state == .inFlight && batch.paddedBytes > 0 && batch.fileOffset % blockBytes == 0)
        batch.submittedNanos = monotonicNanos()
        batchRecords.record(batch.recordCount)
        batchBytes.record(batch.paddedBytes)
        inlineWrites.increment()
        if options.testingDefects.contains(.acknowledgeBeforeDurable) {
            acknowledgeEarly(batch)
        }
        let result: Result<Int, StorageError>
        do {
            try segment.file.writeDurably(UnsafeRawBufferPointer(start: batch.buffer.baseAddress, count: batch.paddedBytes), at: batch.fileOffset)
            result = .success(batch.paddedBytes)
        } catch {
            result = .failure(error)
        }
        complete([StorageCompletion(tag: batch.tag, result: result)])
    }

    /// After an inline write completes: the I/O thread, if it sleeps, is
    /// woken when it has a batch to submit or the journal is closing (it
    /// stops only once no inline write is in flight). Lock held.
    private func wakeWriterAfterInlineLocked() -> (any StorageWaker)? {
        if ioSleeping && (closing || (inFlight.count < options.inFlightBatchesMax && nextSubmittableLocked() != nil)) {
            ioSleeping = false
            return ioWaker
        }
        return nil
    }

    /// Seals the filling batch; the next batch starts after it. Copies may
    /// still be pending in it.
    private func sealFillingLocked() {
        guard let batch = filling else { return }
        batch.seal(blockBytes: blockBytes)
        writeOffset = batch.fileOffset + batch.paddedBytes
        if options.testingDefects.contains(.rewriteAcknowledgedBlocks) && batch.usedBytes % blockBytes != 0 {
            let partial = roundDown(batch.usedBytes, blockBytes)
            writeOffset = batch.fileOffset + partial
            carriedBytes = batch.usedBytes - partial
        }
        sealed.append(batch)
        filling = nil
    }

    /// The batch the I/O thread would submit next, if it may: the first
    /// sealed one, or else the filling one if it holds records; none while a
    /// copy into it is pending. Lock held.
    private func nextSubmittableLocked() -> Batch? {
        if let head = sealed.first { return head.pendingCopies == 0 ? head : nil }
        if let f = filling, f.recordCount > 0, f.pendingCopies == 0 { return f }
        return nil
    }

    /// Starts the next segment with `batch` as its first batch. Lock held.
    private func activateNextSegmentLocked(_ batch: Batch) -> Placement {
        if let prepareFailure { return .failed(.io(prepareFailure)) }
        guard !spares.isEmpty else {
            if metadata.segmentCountMax > 0 && segments.count >= metadata.segmentCountMax {
                return .failed(.journalFull(segmentCountMax: metadata.segmentCountMax))
            }
            preparerWork.signal()
            return .waitForSpace
        }
        let segment = spares.removeFirst()
        assert(segments.last.map { segment.index > $0.index } ?? true, "segments activate in index order")
        // previousCRC is filled in when the batch is chained.
        let header = SegmentHeader(
            journalID: metadata.journalID, segmentIndex: segment.index, baseLSN: lastLSN + 1,
            salt: JournalFormat.salt(journalID: metadata.journalID, index: segment.index, epoch: epoch),
            epoch: epoch, blockBytes: blockBytes, pageBytes: metadata.pageBytes,
            windowBytes: windowBytes, previousCRC: 0)
        carriedBytes = 0
        batch.start(segment: segment, at: 0)
        batch.seed = header.fragmentSeed
        batch.segmentHeader = header
        batch.usedBytes = JournalFormat.segmentHeaderBytes
        segment.header = header
        segment.lsnIndex = []
        segment.lastLSN = 0
        segments.append(segment)
        writeOffset = 0
        filling = batch
        preparerWork.signal()
        logger.info("segment activated", metadata: ["segment": "\(segment.name)", "baseLSN": "\(header.baseLSN)"])
        return .placed(0)
    }

    /// Wakes the I/O thread if it sleeps and could submit. Lock held.
    @inline(__always)
    private func nudgeWriterLocked() -> (any StorageWaker)? {
        if ioSleeping && inFlight.count < options.inFlightBatchesMax && nextSubmittableLocked() != nil {
            ioSleeping = false
            return ioWaker
        }
        return nil
    }

    /// Adds a record to the journal without waiting for durability and
    /// returns its LSN. Blocks while every batch buffer is busy (appenders
    /// outrunning the disk). Pair with `waitUntilDurable(_:)`.
    ///
    /// In manual runtime it never blocks: it pumps the writer instead.
    public func enqueue(_ payload: UnsafeRawBufferPointer) throws(JournalError) -> LSN {
        try enqueue(payload, writeInlineIfIdle: false)
    }

    /// Adds a record; with `writeInlineIfIdle`, writes its batch from this
    /// thread when the journal is idle (see "Inline writes" at the top), so
    /// that it may be durable on return. For callers about to wait for it.
    private func enqueue(_ payload: UnsafeRawBufferPointer, writeInlineIfIdle: Bool) throws(JournalError) -> LSN {
        lock.lock()
        while true {
            switch placeLocked(payload) {
            case .placed(let lsn):
                let taken = writeInlineIfIdle ? takeInlineLocked(holding: lsn) : nil
                let waker = nudgeWriterLocked()
                lock.unlock()
                waker?.wake()
                if let taken { writeInline(taken) }
                return lsn
            case .reserved(let reservation):
                // Placing may have sealed the batch before: let it go now.
                let waker = nudgeWriterLocked()
                lock.unlock()
                waker?.wake()
                if let taken = fill(reservation, payload, inline: writeInlineIfIdle) { writeInline(taken) }
                return reservation.lsn
            case .failed(let error):
                lock.unlock()
                throw error
            case .waitForSpace:
                if options.runtime == .manual {
                    lock.unlock()
                    try pump()
                    lock.lock()
                } else {
                    spaceChanged.wait()
                }
            }
        }
    }

    /// Adds a record without waiting for durability (see the raw-buffer variant).
    public func enqueue(_ payload: [UInt8]) throws(JournalError) -> LSN {
        try withBytes(payload) { (p) throws(JournalError) -> LSN in try enqueue(p) }
    }

    /// Blocks until `lsn` is durable. Fails if the journal is poisoned or closed first.
    public func waitUntilDurableBlocking(_ lsn: LSN) throws(JournalError) {
        if durable.load(ordering: .acquiring) >= lsn { return }
        if options.runtime == .manual {
            while durable.load(ordering: .acquiring) < lsn {
                if let p = lock.withLock({ poison }) { throw .poisoned(p) }
                try pump()
            }
            return
        }
        let parker = Parker()
        lock.lock()
        while durable.load(ordering: .relaxed) < lsn {
            if let poison {
                lock.unlock()
                throw .poisoned(poison)
            }
            if closed {
                lock.unlock()
                throw .closed
            }
            durableWaiters.append((lsn, .thread(parker)))
            lock.unlock()
            // Woken when `lsn` is durable, or on poison or close.
            parker.park()
            lock.lock()
        }
        lock.unlock()
    }

    /// Appends a record and blocks until it is durable. Returns its LSN.
    public func appendBlocking(_ payload: UnsafeRawBufferPointer) throws(JournalError) -> LSN {
        let start = monotonicNanos()
        let lsn = try enqueue(payload, writeInlineIfIdle: options.inlineWrites)
        try waitUntilDurableBlocking(lsn)
        appendLatency.recordNanoseconds(Int64(monotonicNanos() - start))
        return lsn
    }

    public func appendBlocking(_ payload: [UInt8]) throws(JournalError) -> LSN {
        try withBytes(payload) { (p) throws(JournalError) -> LSN in try appendBlocking(p) }
    }

    /// Appends records in order and blocks until all are durable. Their LSNs
    /// increase but other appenders' records may come between them.
    public func appendBlocking(contentsOf payloads: [[UInt8]]) throws(JournalError) -> [LSN] {
        var lsns: [LSN] = []
        lsns.reserveCapacity(payloads.count)
        for (i, p) in payloads.enumerated() {
            let inline = options.inlineWrites && i == payloads.count - 1
            lsns.append(try withBytes(p) { (b) throws(JournalError) -> LSN in try enqueue(b, writeInlineIfIdle: inline) })
        }
        if let last = lsns.last { try waitUntilDurableBlocking(last) }
        return lsns
    }

    /// Adds a record, suspending (not blocking a thread) while batch buffers
    /// are busy. With `writeInlineIfIdle`, writes its batch from this task's
    /// thread when the journal is idle (see "Inline writes" at the top).
    func enqueueSuspending(_ payload: [UInt8], writeInlineIfIdle: Bool = false) async throws(JournalError) -> LSN {
        if options.runtime == .manual {
            return try withBytes(payload) { (p) throws(JournalError) -> LSN in try enqueue(p, writeInlineIfIdle: writeInlineIfIdle) }
        }
        while true {
            var outcome: Placement = .waitForSpace
            var taken: Batch?
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                lock.lock()
                outcome = payload.withUnsafeBytes { placeLocked($0) }
                if writeInlineIfIdle, case .placed(let lsn) = outcome { taken = takeInlineLocked(holding: lsn) }
                switch outcome {
                case .placed, .reserved, .failed:
                    let waker = nudgeWriterLocked()
                    lock.unlock()
                    waker?.wake()
                    continuation.resume()
                case .waitForSpace:
                    spaceWaiters.append(continuation)
                    lock.unlock()
                }
            }
            switch outcome {
            case .placed(let lsn):
                if let taken { writeInline(taken) }
                return lsn
            case .reserved(let reservation):
                if let taken = payload.withUnsafeBytes({ fill(reservation, $0, inline: writeInlineIfIdle) }) { writeInline(taken) }
                return reservation.lsn
            case .failed(let error): throw error
            case .waitForSpace: continue
            }
        }
    }

    /// Suspends until `lsn` is durable.
    public func waitUntilDurable(_ lsn: LSN) async throws(JournalError) {
        if durable.load(ordering: .acquiring) >= lsn { return }
        if options.runtime == .manual { return try waitUntilDurableBlocking(lsn) }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                lock.lock()
                if durable.load(ordering: .relaxed) >= lsn {
                    lock.unlock()
                    continuation.resume()
                } else if let poison {
                    lock.unlock()
                    continuation.resume(throwing: JournalError.poisoned(poison))
                } else if closed {
                    lock.unlock()
                    continuation.resume(throwing: JournalError.closed)
                } else {
                    durableWaiters.append((lsn, .task(continuation)))
                    lock.unlock()
                }
            }
        } catch let error as JournalError {
            throw error
        } catch {
            preconditionFailure("only journal errors resume durability waiters")
        }
    }

    /// Appends a record and returns its LSN once it is durable.
    public func append(_ payload: [UInt8]) async throws(JournalError) -> LSN {
        let start = monotonicNanos()
        let lsn = try await enqueueSuspending(payload, writeInlineIfIdle: options.inlineWritesFromTasks)
        try await waitUntilDurable(lsn)
        appendLatency.recordNanoseconds(Int64(monotonicNanos() - start))
        return lsn
    }

    /// Appends records in order and returns their LSNs once all are durable.
    public func append(contentsOf payloads: [[UInt8]]) async throws(JournalError) -> [LSN] {
        var lsns: [LSN] = []
        lsns.reserveCapacity(payloads.count)
        for (i, p) in payloads.enumerated() {
            let inline = options.inlineWritesFromTasks && i == payloads.count - 1
            lsns.append(try await enqueueSuspending(p, writeInlineIfIdle: inline))
        }
        if let last = lsns.last { try await waitUntilDurable(last) }
        return lsns
    }

    // MARK: The writer

    /// One round of the writer: submit what may go, then take completions.
    /// With `blocking`, sleeps until there is something to do. Returns false
    /// once the journal is closing and everything is written.
    private func writerRound(_ queue: any StorageWriteQueue, blocking: Bool) -> Bool {
        lock.lock()
        var submissions: [Batch] = []
        while inFlight.count < options.inFlightBatchesMax, poison == nil {
            // No artificial delay: the filling batch goes as soon as the
            // disk can take another write and no copy into it is pending.
            // Batches go in order: none passes one still being copied into.
            guard let next = nextSubmittableLocked() else { break }
            if sealed.isEmpty {
                assert(next === filling && next.state == .filling)
                sealFillingLocked()
            }
            let batch = sealed.removeFirst()
            assert(batch === next && batch.pendingCopies == 0)
            batch.state = .inFlight
            inFlight.append(batch)
            submissions.append(batch)
        }
        // After a failure nothing more is submitted, and batches whose writes
        // failed never complete: only writes the queue still holds matter.
        // Wait on the queue only for writes it holds: not for an inline
        // write (in flight, not in the queue), nor for batches completed
        // behind it (in flight until it completes), nor, after a failure,
        // for batches whose writes failed (they never complete).
        assert(inFlight.count >= inlineInFlight)
        let waiting = poison == nil
            ? inFlight.contains { !$0.inline && !$0.completed }
            : (!queueBroken && queue.inFlightCount > 0)
        if submissions.isEmpty && !waiting {
            let idle = filling.map { $0.recordCount == 0 } ?? true
            // Not while an appender still writes: it completes into our state.
            if closing && inlineInFlight == 0 && ((idle && sealed.isEmpty) || poison != nil) {
                lock.unlock()
                return false
            }
            guard blocking else {
                lock.unlock()
                return true
            }
            if poison != nil {
                // Poisoned: nothing to do until the journal closes and no
                // inline write is in flight (its completion broadcasts).
                while !closing || inlineInFlight > 0 { spaceChanged.wait() }
                lock.unlock()
                return true
            }
            ioSleeping = true
            lock.unlock()
            do { _ = try queue.waitForCompletions { _ in preconditionFailure("nothing is in flight") } } catch {
                lock.withLock { queueBroken = true }
                poisonAndUnlock(error, locked: false)
            }
            lock.withLock { ioSleeping = false }
            return true
        }
        ioSleeping = blocking && inFlight.count < options.inFlightBatchesMax
        lock.unlock()

        for batch in submissions {
            guard let segment = batch.segment else { preconditionFailure("an in-flight batch has a segment") }
            assert(batch.paddedBytes > 0 && batch.fileOffset % blockBytes == 0)
            chain(batch, segment, lockHeld: false)
            batch.submittedNanos = monotonicNanos()
            batchRecords.record(batch.recordCount)
            batchBytes.record(batch.paddedBytes)
            do {
                try queue.submit(StorageWrite(
                    file: segment.file, offset: batch.fileOffset, buffer: UnsafeRawPointer(batch.buffer.baseAddress!),
                    count: batch.paddedBytes, tag: batch.tag))
            } catch {
                // Never submitted: complete it as failed so the prefix logic
                // sees it.
                complete([StorageCompletion(tag: batch.tag, result: .failure(error))])
            }
            if options.testingDefects.contains(.acknowledgeBeforeDurable) {
                acknowledgeEarly(batch)
            }
        }
        var completions: [StorageCompletion] = []
        do {
            try queue.flush()
            if blocking {
                try queue.waitForCompletions { completions.append($0) }
            } else {
                try queue.pollCompletions { completions.append($0) }
            }
        } catch {
            lock.withLock { queueBroken = true }
            poisonAndUnlock(error, locked: false)
        }
        if !completions.isEmpty { complete(completions) }
        return true
    }

    /// Completes the headers of a batch about to be submitted: writes the
    /// segment header it starts with, if any, and chains its fragments to
    /// the previous batch's. Called in submission order, by the I/O thread
    /// without the lock or by an inline writer with it (see "Inline writes"
    /// at the top): no appender writes into the batch any more (no copy is
    /// pending) and the disk does not read it yet.
    private func chain(_ batch: Batch, _ segment: Segment, lockHeld: Bool) {
        if batch.carriedBytes > 0 {
            // Test defect: the previous batch's partial last block, rewritten.
            assert(carriedBlock.count == batch.carriedBytes, "the carried block comes from the batch chained just before")
            carriedBlock.withUnsafeBytes { batch.buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        if var header = batch.segmentHeader {
            assert(batch.fileOffset == 0 && batch.carriedBytes == 0)
            header.previousCRC = chainedCRC
            chainedCRC = header.encode(into: batch.buffer)
            if lockHeld { segment.header = header } else { lock.withLock { segment.header = header } }
        }
        let encoder = RecordEncoder(layout: layout, seed: batch.seed, epoch: epoch)
        let (crc, fragments) = encoder.chain(
            batch.buffer, base: batch.fileOffset, from: batch.chainStart, to: batch.fileOffset + batch.usedBytes,
            previousCRC: chainedCRC)
        assert(fragments >= batch.recordCount, "every record has a fragment")
        chainedCRC = crc
        if options.testingDefects.contains(.rewriteAcknowledgedBlocks) && batch.usedBytes % blockBytes != 0 {
            let partial = roundDown(batch.usedBytes, blockBytes)
            carriedBlock = Array(UnsafeRawBufferPointer(batch.buffer).slice(partial, batch.usedBytes - partial))
        }
    }

    /// Applies completions: marks batches done, advances the durable LSN over
    /// the completed prefix, releases waiters.
    private func complete(_ completions: [StorageCompletion]) {
        let now = monotonicNanos()
        lock.lock()
        var failure: StorageError?
        var inlineDone = false
        for c in completions {
            let batch = batchesByTag[Int(c.tag)]
            assert(batch.state == .inFlight && !batch.completed, "a batch completes once")
            if batch.inline {
                assert(inlineInFlight == 1 && completions.count == 1, "an inline write completes alone")
                inlineInFlight -= 1
                inlineDone = true
            }
            switch c.result {
            case .success(let n):
                assert(n == batch.paddedBytes, "storage reports full writes as success")
                batch.completed = true
                let nanos = now - batch.submittedNanos
                writeLatency.recordNanoseconds(Int64(nanos))
                bytesWritten.increment(by: Int64(n))
                if nanos > UInt64(options.slowWriteMilliseconds) * 1_000_000 {
                    logger.warning("slow durable write", metadata: ["milliseconds": "\(nanos / 1_000_000)", "bytes": "\(n)"])
                }
            case .failure(let e):
                failure = failure ?? e
            }
        }
        if let failure {
            let waker = inlineDone ? wakeWriterAfterInlineLocked() : nil
            poisonAndUnlock(failure, locked: true)
            waker?.wake()
            return
        }
        var newDurable = durable.load(ordering: .relaxed)
        var freed = false
        while let first = inFlight.first, first.completed {
            inFlight.removeFirst()
            assert(first.lastLSN > newDurable || !options.testingDefects.isEmpty, "batches complete in LSN order")
            newDurable = max(newDurable, first.lastLSN)
            first.reset()
            freeBatches.append(first)
            freed = true
        }
        var ready: [DurabilityWaiter] = []
        if newDurable > durable.load(ordering: .relaxed) || (!options.testingDefects.isEmpty && !durableWaiters.isEmpty) {
            newDurable = max(newDurable, durable.load(ordering: .relaxed))
            durable.store(newDurable, ordering: .releasing)
            if !durableWaiters.isEmpty {
                var kept = 0
                for i in durableWaiters.indices {
                    if durableWaiters[i].lsn <= newDurable {
                        ready.append(durableWaiters[i].waiter)
                    } else {
                        durableWaiters.swapAt(kept, i)
                        kept += 1
                    }
                }
                durableWaiters.removeLast(durableWaiters.count - kept)
            }
        }
        var spaceReady: [CheckedContinuation<Void, Never>] = []
        if freed {
            spaceChanged.broadcast()
            spaceReady = spaceWaiters
            spaceWaiters.removeAll()
        }
        assert(!inlineDone || freed, "an inline batch is first in flight and frees on success")
        let waker = inlineDone ? wakeWriterAfterInlineLocked() : nil
        lock.unlock()
        waker?.wake()
        for w in ready { w.wake() }
        for c in spaceReady { c.resume() }
    }

    /// The `acknowledgeBeforeDurable` test defect: releases the batch's
    /// appenders while its write is still in flight.
    private func acknowledgeEarly(_ batch: Batch) {
        lock.lock()
        var ready: [DurabilityWaiter] = []
        if batch.lastLSN > durable.load(ordering: .relaxed) {
            durable.store(batch.lastLSN, ordering: .releasing)
            durableWaiters.removeAll { w in
                if w.lsn <= batch.lastLSN { ready.append(w.waiter); return true }
                return false
            }
        }
        lock.unlock()
        for w in ready { w.wake() }
    }

    /// Poisons the journal after a failed durable write and fails every waiter.
    private func poisonAndUnlock(_ error: StorageError, locked: Bool) {
        if !locked { lock.lock() }
        if poison == nil {
            poison = error
            logger.error("durable write failed; the journal refuses writes until reopened", metadata: ["error": "\(error)"])
        }
        let waiters = durableWaiters
        durableWaiters.removeAll()
        let spaceReady = spaceWaiters
        spaceWaiters.removeAll()
        spaceChanged.broadcast()
        lock.unlock()
        for w in waiters { w.waiter.fail(.poisoned(error)) }
        for c in spaceReady { c.resume() }
    }

    private func runIOThread() {
        let queue: any StorageWriteQueue
        do {
            queue = try storage.makeWriteQueue(depth: options.inFlightBatchesMax)
        } catch {
            poisonAndUnlock(error, locked: false)
            return
        }
        lock.withLock { ioWaker = queue.waker }
        while writerRound(queue, blocking: true) {}
        assert(queue.inFlightCount == 0, "the writer stops only when no write is in flight")
    }

    /// Makes progress in manual runtime: prepares a segment if one is needed,
    /// submits batches and takes ready completions. Never blocks.
    public func pump() throws(JournalError) {
        precondition(options.runtime == .manual, "pump() drives the manual runtime only")
        if isReadOnly { return }
        if manualQueue == nil {
            do { manualQueue = try storage.makeWriteQueue(depth: options.inFlightBatchesMax) } catch { throw JournalError.from(error) }
            lock.withLock { ioWaker = manualQueue?.waker }
        }
        prepareSegmentIfNeeded()
        guard let queue = manualQueue else { return }
        _ = writerRound(queue, blocking: false)
        if let p = lock.withLock({ poison }) { throw .poisoned(p) }
    }

    // MARK: Segment preparation

    private func needsSpareLocked() -> Bool {
        if closing || poison != nil { return false }
        if spares.count >= options.spareSegments { return false }
        if metadata.segmentCountMax > 0 && segments.count + spares.count >= metadata.segmentCountMax { return false }
        return true
    }

    /// Prepares one spare segment if the writer is short of them: reuses a
    /// released file, or creates one zero-filled. Returns whether it did.
    @discardableResult
    private func prepareSegmentIfNeeded() -> Bool {
        lock.lock()
        guard needsSpareLocked() else {
            lock.unlock()
            return false
        }
        let index = nextSegmentIndex
        nextSegmentIndex += 1
        let reuse = recyclable.popLast()
        lock.unlock()
        let name = JournalFormat.segmentFileName(index: index)
        do {
            let file: any StorageFile
            if let reuse {
                try storage.rename(reuse, to: name)
                file = try storage.open(name)
            } else {
                file = try storage.createZeroFilled(name, bytes: metadata.segmentBytes)
            }
            let segment = Segment(index: index, file: file, mapping: try file.mapReadOnly())
            (reuse == nil ? segmentsZeroFilled : segmentsReused).increment()
            lock.lock()
            if reuse == nil { segmentCounts.zeroFilled += 1 } else { segmentCounts.reused += 1 }
            spares.append(segment)
            spares.sort { $0.index < $1.index }
            prepareFailure = nil
        } catch {
            lock.lock()
            prepareFailure = error
            if let reuse { recyclable.append(reuse) }
            logger.error("segment preparation failed", metadata: ["segment": "\(name)", "error": "\(error)"])
        }
        spaceChanged.broadcast()
        let waiters = spaceWaiters
        spaceWaiters.removeAll()
        lock.unlock()
        for c in waiters { c.resume() }
        return true
    }

    private func runPreparerThread() {
        while true {
            lock.lock()
            while !closing && !needsSpareLocked() { preparerWork.wait() }
            let stop = closing
            lock.unlock()
            if stop { return }
            prepareSegmentIfNeeded()
            // After a failure, wait for the next demand rather than spin.
            if lock.withLock({ prepareFailure != nil }) {
                lock.withLock { if !closing { preparerWork.wait() } }
            }
        }
    }

    // MARK: Truncation

    /// Releases every segment whose records all have LSNs below `lsn`. The
    /// segment being written is never released, nor one whose successor's
    /// first record is not durable yet: the successor's header goes to the
    /// disk in that record's batch, and until it is there the successor
    /// cannot start the log (a crash could tear it, leaving a log whose
    /// start is damaged and proves records durable that it no longer
    /// holds). Released files are kept for
    /// reuse (up to `recycledSegmentsMax`) or deleted; either is durable when
    /// this returns, except that a file kept for reuse may reappear in the log
    /// after a crash (its rename is made durable by the next directory
    /// change). Waits for readers of released segments to finish.
    /// Returns the number of segments released.
    @discardableResult
    public func truncate(before lsn: LSN) throws(JournalError) -> Int {
        if isReadOnly { throw .invalidArgument("journal is open for reading only") }
        lock.lock()
        var released: [Segment] = []
        while segments.count > 1, let next = segments[1].header, next.baseLSN <= lsn, next.baseLSN <= durable.load(ordering: .relaxed) {
            released.append(segments.removeFirst())
        }
        if let first = segments.first?.header {
            firstLSN = max(firstLSN, first.baseLSN)
        }
        while released.contains(where: { $0.readers > 0 }) { readersDone.wait() }
        lock.unlock()
        for segment in released {
            do {
                let keep = lock.withLock { recyclable.count < options.recycledSegmentsMax }
                if keep {
                    // Lazily: if a crash undoes it, the log just starts
                    // earlier again (truncation promises that older records
                    // are not needed, not that they are gone); the rename
                    // that reuses the file is durable and carries it along.
                    let name = JournalFormat.spareFilePrefix + "\(segment.index)" + JournalFormat.segmentFileSuffix
                    try storage.renameLazily(segment.name, to: name)
                    lock.withLock { recyclable.append(name) }
                } else {
                    try storage.remove(segment.name)
                    segmentsDeleted.increment()
                    lock.withLock { segmentCounts.deleted += 1 }
                }
            } catch {
                throw JournalError.from(error)
            }
        }
        if !released.isEmpty {
            logger.info("journal truncated", metadata: ["before": "\(lsn)", "segments": "\(released.count)"])
            lock.withLock {
                preparerWork.signal()
                spaceChanged.broadcast()
            }
            let waiters = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
                let w = spaceWaiters
                spaceWaiters.removeAll()
                return w
            }
            for c in waiters { c.resume() }
        }
        return released.count
    }

    /// How the writer's segments were prepared since open (also reported as
    /// the metrics `<prefix>.segments.zero_filled`, `.reused`, `.deleted`).
    public struct SegmentCounts: Sendable, Equatable {
        /// New files written with zeros: as many bytes again on the disk.
        public var zeroFilled = 0
        /// Files released by `truncate` and renamed into new segments.
        public var reused = 0
        /// Files released by `truncate` and deleted (the pool was full).
        public var deleted = 0
    }

    public var segmentPreparation: SegmentCounts { lock.withLock { segmentCounts } }

    /// The batch buffers' memory: how much, and how much of it the kernel
    /// backs with huge pages (`JournalOptions.hugePageBatches`).
    public struct BatchMemory: Sendable, Equatable {
        public var bytes: Int
        /// From `/proc/self/smaps`; nil where that is unreadable.
        public var hugePageBytes: Int?
    }

    /// Nil for a journal open for reading only (it has no batches).
    public var batchMemory: BatchMemory? {
        batchArena.map { BatchMemory(bytes: $0.region.count, hugePageBytes: $0.hugePageBacking()) }
    }

    // MARK: Closing

    /// Writes everything enqueued, stops the writer and releases the lock.
    /// Idempotent. Waiters still pending fail with `closed`.
    public func close() {
        lock.lock()
        if closed || closing {
            lock.unlock()
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
        manualQueue = nil
        directoryLock?.unlock()
        directoryLock = nil
    }

    // MARK: Reading support

    /// Pins the segment holding `lsn` for reading. Lock not held.
    func pinSegment(for lsn: LSN) throws(JournalError) -> (Segment, SegmentHeader, start: (lsn: LSN, offset: Int)) {
        lock.lock()
        defer { lock.unlock() }
        let top = durable.load(ordering: .relaxed)
        guard lsn >= firstLSN, lsn <= top else { throw .lsnOutOfRange(requested: lsn, first: firstLSN, durable: top) }
        var lo = 0
        var hi = segments.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if (segments[mid].header?.baseLSN ?? .max) <= lsn { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0, let header = segments[lo - 1].header, let entry = segments[lo - 1].indexEntry(atOrBefore: lsn) else {
            throw .lsnOutOfRange(requested: lsn, first: firstLSN, durable: top)
        }
        let segment = segments[lo - 1]
        segment.readers += 1
        return (segment, header, entry)
    }

    /// The base LSN of the live segment after `segment`, if any. Lock held.
    func baseLSN(after segment: Segment) -> LSN? {
        guard let i = segments.firstIndex(where: { $0 === segment }), i + 1 < segments.count else { return nil }
        return segments[i + 1].header?.baseLSN
    }

    func unpin(_ segment: Segment) {
        lock.lock()
        segment.readers -= 1
        assert(segment.readers >= 0)
        if segment.readers == 0 { readersDone.broadcast() }
        lock.unlock()
    }

    func decoder(for segment: Segment, header: SegmentHeader) -> SegmentDecoder {
        SegmentDecoder(bytes: segment.bytes, header: header, recordBytesMax: metadata.recordBytesMax,
                       verifiesPayloads: !options.testingDefects.contains(.skipPayloadChecksums))
    }
}

/// Runs `body` over an array's bytes, keeping the typed error.
@inline(__always)
func withBytes<R>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(JournalError) -> R) throws(JournalError) -> R {
    var result: Result<R, JournalError>?
    array.withUnsafeBytes { p in
        do throws(JournalError) { result = .success(try body(p)) } catch { result = .failure(error) }
    }
    guard let result else { preconditionFailure("withUnsafeBytes runs its body") }
    return try result.get()
}

/// Someone waiting for an LSN to become durable.
enum DurabilityWaiter {
    case task(CheckedContinuation<Void, any Error>)
    case thread(Parker)

    /// The LSN is durable. A thread re-checks the durable LSN when it wakes.
    func wake() {
        switch self {
        case .task(let c): c.resume()
        case .thread(let p): p.unpark()
        }
    }

    /// The wait ends without durability. A thread finds the reason under the lock.
    func fail(_ error: JournalError) {
        switch self {
        case .task(let c): c.resume(throwing: error)
        case .thread(let p): p.unpark()
        }
    }
}
