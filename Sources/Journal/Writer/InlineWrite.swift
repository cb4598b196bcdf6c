import JournalPrimitives
import JournalStorage

// Inline writes: an appender about to wait for its record that finds the
// journal idle writes the batch itself rather than handing it to the I/O
// thread (see "Inline writes" at the top of Journal.swift).

/// When an appender about to wait for its record may write its batch itself.
enum InlineWritePolicy {
    case never
    /// Whenever the journal is idle: threads with `inlineWrites`, tasks
    /// with `inlineWritesFromTasks`.
    case whenIdle
    /// When the journal is idle, its recent writes were fast
    /// (`inlineWritesFromTasksMicrosecondsMax`) and few tasks are appending
    /// (`taskInlineAppendersMax`): tasks, whose pool thread must not block
    /// for a slow write, nor keep writing one record at a time while many
    /// other tasks wait for a thread.
    case whenIdleOnFastDevice
}

extension Journal {

    /// Takes the filling batch for an inline write if `policy` allows one
    /// and the journal is idle: nothing in flight or sealed, no copy
    /// pending, the batch holding `lsn`. Seals it, moves it in flight and
    /// chains it. Lock held.
    func takeInlineLocked(holding lsn: LSN, _ policy: InlineWritePolicy) -> Batch? {
        switch policy {
        case .never: return nil
        case .whenIdle: break
        case .whenIdleOnFastDevice:
            guard taskInlineGate.isOpen, hasFewTaskAppenders else { return nil }
        }
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
    func writeInline(_ batch: Batch) {
        guard let segment = batch.segment else { preconditionFailure("a batch in flight has a segment") }
        assert(batch.inline && batch.state == .inFlight && batch.paddedBytes > 0 && batch.fileOffset % blockBytes == 0)
        batch.submittedNanos = monotonicNanos()
        batchRecords.record(batch.recordCount)
        batchBytes.record(batch.paddedBytes)
        inlineWrites.increment()
        defects?.submitted(batch, to: self)
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
    func wakeWriterAfterInlineLocked() -> (any StorageWaker)? {
        if ioSleeping && (closing || (inFlight.count < options.inFlightBatchesMax && nextSubmittableLocked() != nil)) {
            ioSleeping = false
            return ioWaker
        }
        return nil
    }
}
