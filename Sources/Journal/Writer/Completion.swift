import JournalPrimitives
import JournalStorage

// Completion: writes finish in any order; the durable LSN advances only
// over the completed prefix of the in-flight FIFO, and a failed write
// poisons the journal. See "Writer protocol" at the top of Journal.swift.

extension Journal {
    /// Applies completions: marks batches done, advances the durable LSN over
    /// the completed prefix, releases waiters.
    func complete(_ completions: [StorageCompletion]) {
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
                taskInlineGate.noteWrite(nanos: now - batch.submittedNanos, inline: batch.inline,
                                         fastNanosMax: UInt64(options.inlineWritesFromTasksMicrosecondsMax) * 1_000)
                recordWrite(bytes: n, nanos: now - batch.submittedNanos)
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
        let freed = freeCompletedPrefixLocked()
        let ready = freed ? publishDurableLocked(completedLSN) : DurablePublication()
        var spaceReady: [UnsafeContinuation<Void, Never>] = []
        if freed {
            spaceChanged.broadcast()
            spaceReady = spaceWaiters
            spaceWaiters.removeAll()
        }
        assert(!inlineDone || freed, "an inline batch is first in flight and frees on success")
        let waker = inlineDone ? wakeWriterAfterInlineLocked() : nil
        lock.unlock()
        waker?.wake()
        ready.wake(followers)
        for c in spaceReady { c.resume() }
    }

    /// Frees the completed batches at the head of the in-flight FIFO and
    /// advances `completedLSN` over them. Returns whether any was freed.
    /// Lock held.
    private func freeCompletedPrefixLocked() -> Bool {
        var freed = false
        while let first = inFlight.first, first.completed {
            inFlight.removeFirst()
            assert(first.lastLSN > completedLSN, "batches complete in LSN order")
            completedLSN = first.lastLSN
            first.reset()
            freeBatches.append(first)
            freed = true
        }
        return freed
    }

    /// Metrics of one successful durable write, and a warning if it was slow.
    private func recordWrite(bytes: Int, nanos: UInt64) {
        writeLatency.recordNanoseconds(Int64(nanos))
        bytesWritten.increment(by: Int64(bytes))
        if nanos > UInt64(options.slowWriteMilliseconds) * 1_000_000 {
            logger.warning("slow durable write", metadata: ["milliseconds": "\(nanos / 1_000_000)", "bytes": "\(bytes)"])
        }
    }

    /// Poisons the journal after a failed durable write and fails every waiter.
    func poisonAndUnlock(_ error: StorageError, locked: Bool) {
        if !locked { lock.lock() }
        if poison == nil {
            poison = error
            logger.error("durable write failed; the journal refuses writes until reopened", metadata: ["error": "\(error)"])
        }
        let (waiters, spaceReady) = takeAllWaitersLocked()
        spaceChanged.broadcast()
        lock.unlock()
        for w in waiters { w.fail(.poisoned(error)) }
        for c in spaceReady { c.resume() }
    }
}
