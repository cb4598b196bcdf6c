import JournalPrimitives

// The public append and wait API. Every append goes through placement
// (`Writer/Placement.swift`); one that waits for its record and finds the
// journal idle may write its batch itself (`Writer/InlineWrite.swift`).

extension Journal {

    /// Adds a record to the journal without waiting for durability and
    /// returns its LSN. Pair with `waitUntilDurable(_:)` or
    /// `waitUntilDurableBlocking(_:)`; a record enqueued after this one is
    /// durable only once this one is.
    ///
    /// Durability: none on return; the record is in a batch that the writer
    /// will write without further calls. Blocks the calling thread while
    /// every batch buffer is busy (appenders outrunning the disk) or while
    /// the writer waits for a new segment file; from a task, prefer
    /// `append(_:)`. Thread-safe: any thread or task, concurrently with any
    /// other call. The payload is copied before this returns.
    ///
    /// - Throws: `JournalError.recordTooLarge`, `.poisoned` after a failed
    ///   write, `.closed`, `.journalFull` when the log holds its most
    ///   segments, `.io` when a segment could not be prepared,
    ///   `.invalidArgument` on a journal open for reading, or when it would
    ///   wait for space from inside a handler of this journal's listener
    ///   (`listen(from:onRecord:onEnd:)`). On any error the record was not
    ///   added and took no LSN.
    /// - Complexity: O(payload bytes): one copy and one checksum.
    public func enqueue(_ payload: UnsafeRawBufferPointer) throws(JournalError) -> LSN {
        try enqueue(payload, inline: .never)
    }

    /// Adds a record; where `inline` allows, writes its batch from this
    /// thread when the journal is idle (see "Inline writes" at the top), so
    /// that it may be durable on return. For callers about to wait for it.
    func enqueue(_ payload: UnsafeRawBufferPointer, inline: InlineWritePolicy) throws(JournalError) -> LSN {
        lock.lock()
        while true {
            switch placeLocked(payload) {
            case .placed(let lsn):
                let taken = takeInlineLocked(holding: lsn, inline)
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
                if let taken = fill(reservation, payload, inline: inline) { writeInline(taken) }
                return reservation.lsn
            case .failed(let error):
                lock.unlock()
                throw error
            case .waitForSpace:
                if isInsideListener {
                    lock.unlock()
                    throw insideListenerError("enqueue, with every batch buffer busy,")
                }
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

    /// Adds a record without waiting for durability and returns its LSN:
    /// the same contract as the raw-buffer variant (blocks only while every
    /// batch buffer is busy or a segment is being prepared; thread-safe;
    /// on error, nothing was added).
    ///
    /// - Throws: as `enqueue(_:)` with a raw buffer.
    /// - Complexity: O(payload bytes).
    public func enqueue(_ payload: [UInt8]) throws(JournalError) -> LSN {
        try withBytes(payload) { (p) throws(JournalError) -> LSN in try enqueue(p) }
    }

    /// Blocks the calling thread until `lsn`, and so every record below
    /// it, is durable. Returns at once if it already is.
    ///
    /// Thread-safe: any number of threads may wait, for any LSNs; each is
    /// released once the durable LSN reaches its own. From a task,
    /// use `waitUntilDurable(_:)`, which suspends instead.
    ///
    /// - Throws: `JournalError.poisoned` if a write failed before `lsn`
    ///   became durable (its record's fate is then known only after a
    ///   reopen), `.closed` if the journal closed first,
    ///   `.invalidArgument` on a journal open for reading only (nothing
    ///   there ever becomes durable: it would wait forever) or from inside
    ///   a handler of this journal's listener (`listen(from:onRecord:onEnd:)`).
    public func waitUntilDurableBlocking(_ lsn: LSN) throws(JournalError) {
        try refuseInsideListener("waitUntilDurableBlocking")
        try waitDurableBlocking(lsn)
    }

    /// `waitUntilDurableBlocking(_:)` for a caller that already refused
    /// from inside a listener's handler (a blocking append).
    private func waitDurableBlocking(_ lsn: LSN) throws(JournalError) {
        if durable.load(ordering: .acquiring) >= lsn { return }
        if isReadOnly {
            throw .invalidArgument("LSN \(lsn) is above the durable LSN \(durableLSN) of a journal open for reading only, which never advances")
        }
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

    /// Appends a record and blocks until it, and every record before it,
    /// is durable; returns its LSN. The acknowledgement of the journal.
    ///
    /// Blocks the calling thread for one durable write, shared with the
    /// records of concurrent appenders (group commit). With
    /// `JournalOptions.inlineWrites`, an appender that finds the journal
    /// idle writes its batch from this thread. Thread-safe: any thread,
    /// concurrently with any other call; from a task, use `append(_:)`.
    ///
    /// - Throws: as `enqueue(_:)` (the record was not added), or as
    ///   `waitUntilDurableBlocking(_:)` (`.poisoned`, `.closed`: the record
    ///   may or may not be in the log after a reopen).
    /// - Complexity: O(payload bytes) of CPU, plus the wait for the disk.
    public func appendBlocking(_ payload: UnsafeRawBufferPointer) throws(JournalError) -> LSN {
        try refuseInsideListener("appendBlocking")
        let start = timesAppends ? monotonicNanos() : 0
        let lsn = try enqueue(payload, inline: threadInlinePolicy)
        try waitDurableBlocking(lsn)
        if timesAppends { appendLatency.recordNanoseconds(Int64(monotonicNanos() - start)) }
        return lsn
    }

    /// Appends a record and blocks until it is durable; returns its LSN.
    /// The same contract as the raw-buffer variant.
    ///
    /// - Throws: as `appendBlocking(_:)` with a raw buffer.
    /// - Complexity: O(payload bytes), plus the wait for the disk.
    public func appendBlocking(_ payload: [UInt8]) throws(JournalError) -> LSN {
        try withBytes(payload) { (p) throws(JournalError) -> LSN in try appendBlocking(p) }
    }

    /// Appends records in order and blocks until all are durable. Their LSNs
    /// increase but other appenders' records may come between them. Not
    /// atomic: a crash before the return may keep a prefix of them.
    ///
    /// Blocks the calling thread for the last record's durable write (and
    /// while batch buffers are busy). Thread-safe.
    ///
    /// - Throws: as `appendBlocking(_:)`. An error while enqueueing leaves
    ///   the records before it enqueued (and written in due course).
    /// - Complexity: O(total payload bytes), plus one wait for the disk.
    public func appendBlocking(contentsOf payloads: [[UInt8]]) throws(JournalError) -> [LSN] {
        try refuseInsideListener("appendBlocking")
        var lsns: [LSN] = []
        lsns.reserveCapacity(payloads.count)
        for (i, p) in payloads.enumerated() {
            let inline = i == payloads.count - 1 ? threadInlinePolicy : .never
            lsns.append(try withBytes(p) { (b) throws(JournalError) -> LSN in try enqueue(b, inline: inline) })
        }
        if let last = lsns.last { try waitDurableBlocking(last) }
        return lsns
    }

    /// The inline writes of blocking appends: `inlineWrites`.
    var threadInlinePolicy: InlineWritePolicy { options.inlineWrites ? .whenIdle : .never }

    /// The inline writes of async appends: always with
    /// `inlineWritesFromTasks`, else while the device is fast.
    var taskInlinePolicy: InlineWritePolicy {
        if options.inlineWritesFromTasks { return .whenIdle }
        return options.inlineWritesFromTasksMicrosecondsMax > 0 ? .whenIdleOnFastDevice : .never
    }

    /// Adds a record, suspending (not blocking a thread) while batch buffers
    /// are busy. Where `inline` allows, writes its batch from this task's
    /// thread when the journal is idle (see "Inline writes" at the top).
    /// A placement that finds room (almost all) takes the lock once and
    /// never suspends; only one that must wait for space parks the task.
    func enqueueSuspending(_ payload: [UInt8], inline: InlineWritePolicy = .never) async throws(JournalError) -> LSN {
        if options.runtime == .manual {
            return try withBytes(payload) { (p) throws(JournalError) -> LSN in try enqueue(p, inline: inline) }
        }
        lock.lock()
        let outcome = payload.withUnsafeBytes { placeLocked($0) }
        if case .waitForSpace = outcome {
            lock.unlock()
            return try await enqueueParking(payload, inline: inline)
        }
        var taken: Batch?
        if case .placed(let lsn) = outcome { taken = takeInlineLocked(holding: lsn, inline) }
        let waker = nudgeWriterLocked()
        lock.unlock()
        waker?.wake()
        guard let lsn = try finishPlacement(outcome, payload, taken: taken, inline: inline) else {
            preconditionFailure("a placement that must wait for space parks above")
        }
        return lsn
    }

    /// The rest of an append once placed: the copy of a reserved record,
    /// the inline write of a taken batch. Nil for `.waitForSpace`.
    private func finishPlacement(_ outcome: Placement, _ payload: [UInt8], taken: Batch?, inline: InlineWritePolicy) throws(JournalError) -> LSN? {
        switch outcome {
        case .placed(let lsn):
            if let taken { writeInline(taken) }
            return lsn
        case .reserved(let reservation):
            if let taken = payload.withUnsafeBytes({ fill(reservation, $0, inline: inline) }) { writeInline(taken) }
            return reservation.lsn
        case .failed(let error): throw error
        case .waitForSpace: return nil
        }
    }

    /// Places a record, parking the task (a continuation among the space
    /// waiters, resumed when a batch frees) while there is no room.
    private func enqueueParking(_ payload: [UInt8], inline: InlineWritePolicy) async throws(JournalError) -> LSN {
        while true {
            var outcome: Placement = .waitForSpace
            var taken: Batch?
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                lock.lock()
                outcome = payload.withUnsafeBytes { placeLocked($0) }
                if case .placed(let lsn) = outcome { taken = takeInlineLocked(holding: lsn, inline) }
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
            if let lsn = try finishPlacement(outcome, payload, taken: taken, inline: inline) { return lsn }
        }
    }

    /// Suspends the calling task until `lsn`, and so every record below it,
    /// is durable. Returns at once if it already is. Never blocks a thread.
    ///
    /// Thread-safe: any number of tasks and threads may wait at once. Not
    /// cancellable: a cancelled task still waits for the outcome.
    ///
    /// - Throws: `JournalError.poisoned` if a write failed before `lsn`
    ///   became durable, `.closed` if the journal closed first.
    public func waitUntilDurable(_ lsn: LSN) async throws(JournalError) {
        if durable.load(ordering: .acquiring) >= lsn { return }
        if options.runtime == .manual { return try waitUntilDurableBlocking(lsn) }
        // An unchecked continuation: a waiter is resumed exactly once, by
        // whoever takes it out of `durableWaiters` under the lock, and a
        // checked one would cost an allocation per wait.
        let failure: JournalError? = await withUnsafeContinuation { (continuation: UnsafeContinuation<JournalError?, Never>) in
            lock.lock()
            if durable.load(ordering: .relaxed) >= lsn {
                lock.unlock()
                continuation.resume(returning: nil)
            } else if let poison {
                lock.unlock()
                continuation.resume(returning: .poisoned(poison))
            } else if closed {
                lock.unlock()
                continuation.resume(returning: .closed)
            } else {
                durableWaiters.append((lsn, .task(continuation)))
                lock.unlock()
            }
        }
        if let failure { throw failure }
    }

    /// Appends a record and returns its LSN once it, and every record
    /// before it, is durable. The acknowledgement of the journal, for tasks.
    ///
    /// Suspends (never blocks a thread) while batch buffers are busy and
    /// until the durable write completes; that write is shared with
    /// concurrent appenders. While the journal's recent writes were fast
    /// (`JournalOptions.inlineWritesFromTasksMicrosecondsMax`) and few tasks
    /// are appending (eight per processor), or always with `inlineWritesFromTasks`, the task
    /// may instead write an idle journal's batch itself, blocking its
    /// thread for one write, and return without suspending. Thread-safe; not cancellable.
    ///
    /// - Throws: `JournalError.recordTooLarge`, `.journalFull`, `.io`,
    ///   `.invalidArgument` (the record was not added); `.poisoned` or
    ///   `.closed` (it may or may not be in the log after a reopen).
    /// - Complexity: O(payload bytes), plus the wait for the disk.
    public func append(_ payload: [UInt8]) async throws(JournalError) -> LSN {
        let start = timesAppends ? monotonicNanos() : 0
        let alone = taskAppenders.add(1, ordering: .relaxed).newValue == 1
        defer { taskAppenders.subtract(1, ordering: .relaxed) }
        let lsn: LSN
        // A task appending alone most likely writes inline: placing, then
        // waiting (at once durable), needs no continuation; the one-hold
        // path makes one for every append.
        if options.runtime == .manual || alone {
            lsn = try await enqueueSuspending(payload, inline: taskInlinePolicy)
            try await waitUntilDurable(lsn)
        } else {
            lsn = try await appendSuspending(payload, inline: taskInlinePolicy)
        }
        if timesAppends { appendLatency.recordNanoseconds(Int64(monotonicNanos() - start)) }
        return lsn
    }

    /// Appends records in order and returns their LSNs once all are
    /// durable. Other appenders' records may come between them; not atomic:
    /// a crash before the return may keep a prefix of them.
    ///
    /// Suspends as `append(_:)` does; one durability wait, for the last.
    ///
    /// - Throws: as `append(_:)`.
    /// - Complexity: O(total payload bytes), plus one wait for the disk.
    public func append(contentsOf payloads: [[UInt8]]) async throws(JournalError) -> [LSN] {
        taskAppenders.add(1, ordering: .relaxed)
        defer { taskAppenders.subtract(1, ordering: .relaxed) }
        var lsns: [LSN] = []
        lsns.reserveCapacity(payloads.count)
        for (i, p) in payloads.enumerated() {
            let inline = i == payloads.count - 1 ? taskInlinePolicy : .never
            lsns.append(try await enqueueSuspending(p, inline: inline))
        }
        if let last = lsns.last { try await waitUntilDurable(last) }
        return lsns
    }
}
