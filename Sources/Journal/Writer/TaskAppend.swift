import JournalPrimitives

#if canImport(Glibc)
import Glibc
#endif

// The async append in one hold of the lock: a task places its record and,
// in the same hold, registers itself as the record's durability waiter, so
// that an append takes the journal's lock once where placing, then waiting,
// took it twice. The waiter cannot miss its wake-up: the record was placed
// in this very hold, so the durable LSN is below it, and whoever publishes
// the durable LSN past it takes the lock and finds the waiter.

//
// A task writes inline only while few tasks are appending: at most eight
// per processor (the cooperative pool runs one thread per processor). A task
// that writes inline returns without suspending, so it keeps its pool
// thread: with many more tasks than pool threads, a few of them would
// append, write one record, return and append again, each write carrying
// one record, while the other tasks, resumed but not yet run, wait behind
// them for a thread (64 tasks on 2 processors: one record per write).
// Through the I/O thread, instead, a batch fills with the records of every
// task placed while the write before it runs. With few tasks, the inline
// writer takes the records placed by the others since the last write, and
// the tasks it wakes find a thread soon.

extension Journal {
    /// The most tasks inside `append` at which a task that finds the
    /// journal idle may write inline: eight per online processor.
    static let taskInlineAppendersMax = 8 * max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Few tasks are inside `append` (`taskInlineAppendersMax`). A relaxed
    /// read: a hint, as the gate is, never a condition of correctness.
    var hasFewTaskAppenders: Bool { taskAppenders.load(ordering: .relaxed) <= Self.taskInlineAppendersMax }

    /// Appends a record and suspends until it is durable (`append(_:)`).
    /// A small record that finds room (almost all) is placed and waited for
    /// in one hold of the lock; an inline write, a large record copied
    /// outside the lock, or a wait for batch space takes the two steps.
    /// Threaded runtime only: the manual one places, then pumps to wait.
    func appendSuspending(_ payload: [UInt8], inline: InlineWritePolicy) async throws(JournalError) -> LSN {
        assert(options.runtime != .manual, "the manual runtime's appends place, then pump")
        var outcome: Placement = .waitForSpace
        var taken: Batch?
        // Unchecked: a registered waiter is resumed exactly once, by
        // whoever takes it out of `durableWaiters` under the lock; an
        // unregistered one here, before the closure returns.
        let failure: JournalError? = await withUnsafeContinuation { (continuation: UnsafeContinuation<JournalError?, Never>) in
            lock.lock()
            outcome = payload.withUnsafeBytes { placeLocked($0) }
            var waiting = false
            if case .placed(let lsn) = outcome {
                taken = takeInlineLocked(holding: lsn, inline)
                if taken == nil {
                    assert(durable.load(ordering: .relaxed) < lsn, "a record just placed is not durable")
                    durableWaiters.append((lsn, .task(continuation)))
                    waiting = true
                }
            }
            // Placing may have sealed a batch: let it go now.
            let waker = nudgeWriterLocked()
            lock.unlock()
            waker?.wake()
            if !waiting { continuation.resume(returning: nil) }
        }
        return try await finishTaskAppend(outcome, taken: taken, failure: failure, payload, inline: inline)
    }

    /// The rest of an append placed (or not) by `appendSuspending`: nothing
    /// for a registered waiter but its outcome; otherwise the inline write,
    /// the copy of a large record, or the wait for space, then the wait
    /// for durability.
    private func finishTaskAppend(
        _ outcome: Placement, taken: Batch?, failure: JournalError?, _ payload: [UInt8], inline: InlineWritePolicy
    ) async throws(JournalError) -> LSN {
        let lsn: LSN
        switch outcome {
        case .placed(let placed):
            guard let taken else {
                if let failure { throw failure }
                return placed
            }
            writeInline(taken)
            lsn = placed
        case .reserved(let reservation):
            if let taken = payload.withUnsafeBytes({ fill(reservation, $0, inline: inline) }) { writeInline(taken) }
            lsn = reservation.lsn
        case .failed(let error):
            throw error
        case .waitForSpace:
            lsn = try await enqueueSuspending(payload, inline: inline)
        }
        try await waitUntilDurable(lsn)
        return lsn
    }
}
