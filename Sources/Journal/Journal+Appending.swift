import JournalPrimitives

// The public append and wait API. Every append goes through placement
// (`Writer/Placement.swift`); one that waits for its record and finds the
// journal idle may write its batch itself (`Writer/InlineWrite.swift`).

extension Journal {

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
    func enqueue(_ payload: UnsafeRawBufferPointer, writeInlineIfIdle: Bool) throws(JournalError) -> LSN {
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
}
