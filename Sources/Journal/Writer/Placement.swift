import JournalPrimitives
import JournalStorage

// Placement: an appender, under the journal's lock, takes the next LSN and
// room for its record in the filling batch, sealing the batch and starting
// another (or activating the next segment) when the record does not fit.
// See "Writer protocol" at the top of Journal.swift.

extension Journal {
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

    /// Tries to place one record in the filling batch. Lock held.
    func placeLocked(_ payload: UnsafeRawBufferPointer) -> Placement {
        if let poison { return .failed(.poisoned(poison)) }
        if closing || closed { return .failed(.closed) }
        if isReadOnly { return .failed(.invalidArgument("journal is open for reading only")) }
        guard payload.count <= metadata.recordBytesMax else {
            return .failed(.recordTooLarge(bytes: payload.count, max: metadata.recordBytesMax))
        }
        while true {
            if filling == nil, let blocked = startFillingBatchLocked() { return blocked }
            guard let batch = filling, let segment = batch.segment, let header = segment.header else {
                preconditionFailure("a filling batch belongs to an activated segment")
            }
            let cursor = batch.fileOffset + batch.usedBytes
            let end = layout.encodedEnd(payloadBytes: payload.count, at: cursor)
            let batchLimit = batch.recordCount == 0 ? batchCapacity : min(batchCapacity, options.batchBytesMax)
            let fitsSegment = roundUp(end, blockBytes) <= metadata.segmentBytes
            let fitsBatch = roundUp(end - batch.fileOffset, blockBytes) <= batchLimit
            if fitsSegment && fitsBatch {
                assert(batch.seed == header.fragmentSeed, "a batch carries its segment's seed")
                return placeLocked(payload, in: batch, segment: segment, at: cursor, end: end)
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

    /// Starts a filling batch from a free buffer: in the active segment
    /// where the last batch ended, or at the start of the next segment.
    /// Returns nil once `filling` is set, else why it could not be. Lock held.
    private func startFillingBatchLocked() -> Placement? {
        assert(filling == nil)
        guard let batch = freeBatches.popLast() else { return .waitForSpace }
        guard let active = segments.last, let header = active.header, writeOffset < metadata.segmentBytes else {
            switch activateNextSegmentLocked(batch) {
            case .placed: return nil
            case let other:
                freeBatches.append(batch)
                return other
            }
        }
        batch.start(segment: active, at: writeOffset)
        batch.seed = header.fragmentSeed
        // A segment whose header is not written yet starts with it.
        if writeOffset == 0 { batch.usedBytes = JournalFormat.segmentHeaderBytes }
        defects?.startingBatchLocked(batch)
        filling = batch
        return nil
    }

    /// Places a record that fits `batch` at segment offset `cursor`: encodes
    /// a small one at once, reserves room for a large one. Lock held.
    private func placeLocked(
        _ payload: UnsafeRawBufferPointer, in batch: Batch, segment: Segment, at cursor: Int, end: Int
    ) -> Placement {
        let lsn = lastLSN + 1
        let committed = durable.load(ordering: .relaxed)
        let start = layout.fragmentStart(atOrAfter: cursor)
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

    /// Writes a reserved record into its batch, outside the lock, and
    /// wakes the I/O thread if it was waiting for this copy. With `inline`,
    /// returns the batch when this was its last copy and the appender may
    /// write it itself (`takeInlineLocked`).
    func fill(_ r: Reservation, _ payload: UnsafeRawBufferPointer, inline: InlineWritePolicy) -> Batch? {
        let encoder = RecordEncoder(layout: layout, seed: r.seed, epoch: epoch)
        let end = encoder.encodeUnchained(payload, lsn: r.lsn, committedLSN: r.committedLSN, into: r.batch.buffer, base: r.base, at: r.offset)
        assert(end == r.end, "the encoder and the layout agree")
        lock.lock()
        assert(r.batch.pendingCopies > 0 && r.batch.state != .free && r.batch.state != .inFlight, "a batch waits for its copies")
        r.batch.pendingCopies -= 1
        var taken: Batch?
        var waker: (any StorageWaker)?
        if r.batch.pendingCopies == 0 {
            taken = takeInlineLocked(holding: r.lsn, inline)
            waker = nudgeWriterLocked()
        }
        lock.unlock()
        waker?.wake()
        return taken
    }

    /// Seals the filling batch; the next batch starts after it. Copies may
    /// still be pending in it.
    func sealFillingLocked() {
        guard let batch = filling else { return }
        batch.seal(blockBytes: blockBytes)
        writeOffset = batch.fileOffset + batch.paddedBytes
        if let defects { writeOffset = defects.sealedLocked(batch, blockBytes: blockBytes, nextOffset: writeOffset) }
        sealed.append(batch)
        filling = nil
    }

    /// The batch the I/O thread would submit next, if it may: the first
    /// sealed one, or else the filling one if it holds records; none while a
    /// copy into it is pending. Lock held.
    func nextSubmittableLocked() -> Batch? {
        if let head = sealed.first { return head.pendingCopies == 0 ? head : nil }
        if let f = filling, f.recordCount > 0, f.pendingCopies == 0 { return f }
        return nil
    }


    /// Starts the next segment with `batch` as its first batch. Lock held.
    func activateNextSegmentLocked(_ batch: Batch) -> Placement {
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
        defects?.segmentActivatedLocked()
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
    func nudgeWriterLocked() -> (any StorageWaker)? {
        if ioSleeping && inFlight.count < options.inFlightBatchesMax && nextSubmittableLocked() != nil {
            ioSleeping = false
            return ioWaker
        }
        return nil
    }
}
