import JournalPrimitives
import JournalStorage

// The writer: one round submits what may go and takes completions. The I/O
// thread runs rounds until the journal closes; in manual runtime `pump()`
// runs one round that never blocks. See "Writer protocol" at the top of
// Journal.swift.

extension Journal {
    /// One round of the writer: submit what may go, then take completions.
    /// With `blocking`, sleeps until there is something to do. Returns false
    /// once the journal is closing and everything is written.
    func writerRound(_ queue: any StorageWriteQueue, blocking: Bool) -> Bool {
        lock.lock()
        let submissions = takeSubmissionsLocked()
        // Wait on the queue only for writes it holds: not for an inline
        // write (in flight, not in the queue), nor for batches completed
        // behind it (in flight until it completes), nor, after a failure,
        // for batches whose writes failed (they never complete).
        assert(inFlight.count >= inlineInFlight)
        let waiting = poison == nil
            ? inFlight.contains { !$0.inline && !$0.completed }
            : (!queueBroken && queue.inFlightCount > 0)
        if submissions.isEmpty && !waiting {
            return idleRoundAndUnlock(queue, blocking: blocking)
        }
        ioSleeping = blocking && inFlight.count < options.inFlightBatchesMax
        lock.unlock()
        submit(submissions, to: queue)
        reapCompletions(queue, blocking: blocking)
        return true
    }

    /// Moves sealed batches, then the filling one, in flight while fewer
    /// than `inFlightBatchesMax` are. No artificial delay: the filling batch
    /// goes as soon as the disk can take another write and no copy into it
    /// is pending. Batches go in order: none passes one still being copied
    /// into. After a failure nothing more is submitted. Lock held.
    private func takeSubmissionsLocked() -> [Batch] {
        var submissions: [Batch] = []
        while inFlight.count < options.inFlightBatchesMax, poison == nil {
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
        return submissions
    }

    /// A round with nothing to submit and no queued write to wait for:
    /// stops the writer once closing and drained, else sleeps (blocking)
    /// until woken. Called with the lock held; returns with it released.
    private func idleRoundAndUnlock(_ queue: any StorageWriteQueue, blocking: Bool) -> Bool {
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

    /// Chains each batch (in submission order, outside the lock) and hands
    /// it to the queue. A batch the queue refuses completes as failed.
    private func submit(_ submissions: [Batch], to queue: any StorageWriteQueue) {
        for batch in submissions {
            guard let segment = batch.segment else { preconditionFailure("an in-flight batch has a segment") }
            assert(batch.paddedBytes > 0 && batch.fileOffset % blockBytes == 0)
            chain(batch, segment, lockHeld: false)
            batch.submittedNanos = monotonicNanos()
            batchRecords.record(batch.recordCount)
            batchBytes.record(batch.paddedBytes)
            do {
                guard let buffer = UnsafeRawPointer(batch.buffer.baseAddress) else {
                    preconditionFailure("a batch buffer is cut from the arena's mapping")
                }
                try queue.submit(StorageWrite(
                    file: segment.file, offset: batch.fileOffset, buffer: buffer,
                    count: batch.paddedBytes, tag: batch.tag))
            } catch {
                // Never submitted: complete it as failed so the prefix logic
                // sees it.
                complete([StorageCompletion(tag: batch.tag, result: .failure(error))])
            }
            defects?.submitted(batch, to: self)
        }
    }

    /// Flushes submissions and takes completions: waits for at least one
    /// when `blocking`. A failure of the queue itself poisons the journal.
    private func reapCompletions(_ queue: any StorageWriteQueue, blocking: Bool) {
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
    }

    func runIOThread() {
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
    @_spi(Testing) public func pump() throws(JournalError) {
        precondition(options.runtime == .manual, "pump() drives the manual runtime only")
        if isReadOnly { return }
        if manualQueue == nil {
            do { manualQueue = try storage.makeWriteQueue(depth: options.inFlightBatchesMax) } catch { throw JournalError.from(error) }
            lock.withLock { ioWaker = manualQueue?.waker }
        }
        prepareSegmentIfNeeded()
        guard let queue = manualQueue else { return }
        _ = writerRound(queue, blocking: false)
        // A handler this round ran closed the journal: finish that close.
        if !isInsideListener && takeDeferredClose(waiting: false) { finishClosing() }
        if let p = lock.withLock({ poison }) { throw .poisoned(p) }
    }
}
