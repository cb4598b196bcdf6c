public import Journal
import PageStore
import Synchronization

// The write API, blocking and async: each batch is checked alone, then
// queued for a write group (WriteGroups/WriteGroup.swift) that a leader
// applies and commits; the writer returns once its group's transaction is
// committed, and durable when it asked for durability.

extension KeyValueStore {
    // MARK: Writing

    /// Sets `key` to `value`; returns once durable.
    ///
    /// Blocks the calling thread until its write group's transaction is
    /// durable; this thread may lead the group (apply it to the tree and
    /// commit it). Thread-safe; from a task use the async variant.
    ///
    /// - Throws: `KeyValueError.keyTooLarge`, `.entryTooLarge` (nothing
    ///   written), `.store` for the page store's failures, `.corruption`.
    /// - Complexity: O(log n) pages read and written, plus the wait for the
    ///   disk.
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(KeyValueError) {
        try write([.put(key: key, value: value)])
    }

    /// Removes `key`; returns whether it was there, once durable.
    ///
    /// Blocks as `put(_:_:)` does.
    ///
    /// - Throws: as `put(_:_:)`.
    /// - Complexity: O(log n) pages, plus the wait for the disk.
    @discardableResult
    public func delete(_ key: [UInt8]) throws(KeyValueError) -> Bool {
        try writeQueued([.delete(key: key)], durable: true).removed > 0
    }

    /// Applies `operations` in order as one transaction (all or nothing,
    /// one journal record); returns its LSN once durable.
    ///
    /// Blocks as `put(_:_:)` does. A batch with an operation that fails its
    /// checks writes nothing.
    ///
    /// - Throws: as `put(_:_:)`.
    /// - Complexity: O(operations × log n) pages, plus the wait for the disk.
    @discardableResult
    public func write(_ operations: [KeyValueOperation]) throws(KeyValueError) -> LSN {
        try writeQueued(operations, durable: true).lsn
    }

    /// As `write`, but returns before durability: the batch is visible to
    /// later writes at once, to reads once durable, and is lost in a crash
    /// before then (with every later batch, never an earlier one).
    ///
    /// Blocks the calling thread only for its write group (this thread may
    /// lead it), never for the disk. Wait with `waitUntilDurable(_:)`.
    ///
    /// - Throws: as `put(_:_:)`.
    /// - Complexity: O(operations × log n) pages.
    @discardableResult
    public func writeLazy(_ operations: [KeyValueOperation]) throws(KeyValueError) -> LSN {
        try writeQueued(operations, durable: false).lsn
    }

    /// Blocks the calling thread until the batch with LSN `lsn`, and every
    /// batch before it, is durable. Returns at once if it already is.
    ///
    /// - Throws: `KeyValueError.store` when the journal is poisoned or closed.
    public func waitUntilDurable(_ lsn: LSN) throws(KeyValueError) {
        do { try pageStore.waitUntilDurable(lsn) } catch { throw .store(error) }
    }

    // MARK: Writing from tasks
    //
    // The same contracts as the blocking calls, for tasks: a writer waits
    // for its group by suspending, never holding a cooperative thread while
    // a record is written (a task that leads applies the group on its
    // thread, CPU work, then suspends on the durability wait). Task and
    // thread writers share the groups. Not cancellable: a cancelled task
    // still gets its batch's outcome.

    /// Sets `key` to `value`; resumes once durable. Suspends, never
    /// blocking a thread on the disk (a task that leads applies the group
    /// on its thread first). Not cancellable.
    ///
    /// - Throws: as the blocking `put(_:_:)`.
    /// - Complexity: O(log n) pages, plus the wait for the disk.
    public func put(_ key: [UInt8], _ value: [UInt8]) async throws(KeyValueError) {
        try await write([.put(key: key, value: value)])
    }

    /// Removes `key`; resumes once durable with whether it was there.
    /// Suspends as the async `put(_:_:)` does.
    ///
    /// - Throws: as the blocking `put(_:_:)`.
    @discardableResult
    public func delete(_ key: [UInt8]) async throws(KeyValueError) -> Bool {
        try await writeQueued([.delete(key: key)], durable: true).removed > 0
    }

    /// Applies `operations` in order as one transaction (all or nothing,
    /// one journal record); resumes once durable with its LSN. Suspends as
    /// the async `put(_:_:)` does.
    ///
    /// - Throws: as the blocking `put(_:_:)`.
    /// - Complexity: O(operations × log n) pages, plus the wait for the disk.
    @discardableResult
    public func write(_ operations: [KeyValueOperation]) async throws(KeyValueError) -> LSN {
        try await writeQueued(operations, durable: true).lsn
    }

    /// As `writeLazy`, from a task: resumes once its group committed,
    /// before durability.
    ///
    /// - Throws: as the blocking `put(_:_:)`.
    @discardableResult
    public func writeLazy(_ operations: [KeyValueOperation]) async throws(KeyValueError) -> LSN {
        try await writeQueued(operations, durable: false).lsn
    }

    /// Suspends until the batch with LSN `lsn`, and every batch before it,
    /// is durable. Not cancellable.
    ///
    /// - Throws: `KeyValueError.store` when the journal is poisoned or closed.
    public func waitUntilDurable(_ lsn: LSN) async throws(KeyValueError) {
        do { try await pageStore.waitUntilDurable(lsn) } catch { throw .store(error) }
    }

    /// As the blocking `writeQueued`, suspending rather than parking.
    func writeQueued(_ operations: [KeyValueOperation], durable: Bool) async throws(KeyValueError) -> (lsn: LSN, removed: Int) {
        try check(operations)
        let request = WriteRequest(operations, durable: durable, isTask: true)
        groupCounters.writersInside.add(1, ordering: .relaxed)
        defer { groupCounters.writersInside.subtract(1, ordering: .relaxed) }
        if !queue.enqueue([request]) {
            // Resumed once: with the outcome, or to lead.
            await request.suspend()
        }
        if request.outcome == nil {
            assert(request.leads, "a request without an outcome was woken to lead")
            await lead(request)
        }
        guard let outcome = request.outcome else { preconditionFailure("a led group sets every member's outcome") }
        return try outcome.get()
    }

    /// Applies each of `batches` all or nothing, in order, as one write
    /// group (in one transaction when they fit in a journal record), and
    /// returns before durability, as `writeLazy`: each batch's LSN, or its
    /// own error (a batch that fails does not fail the others; later batches
    /// still apply). A crash keeps a prefix of the batches.
    ///
    /// Blocks the calling thread for the write groups (it may lead them),
    /// never for the disk. Thread-safe.
    /// - Complexity: O(operations × log n) pages.
    public func writeLazy(batches: [[KeyValueOperation]]) -> [Result<LSN, KeyValueError>] {
        var out = [Result<LSN, KeyValueError>?](repeating: nil, count: batches.count)
        var requests: [WriteRequest] = []
        var slots: [Int] = []
        for (i, batch) in batches.enumerated() {
            do throws(KeyValueError) {
                try check(batch)
                requests.append(WriteRequest(batch, durable: false))
                slots.append(i)
            } catch {
                out[i] = .failure(error)
            }
        }
        submit(requests)
        for (request, i) in zip(requests, slots) {
            guard let outcome = request.outcome else { preconditionFailure("a led group sets every member's outcome") }
            out[i] = outcome.map(\.lsn)
        }
        return out.map { r in
            guard let r else { preconditionFailure("every batch has a result") }
            return r
        }
    }

    /// Queues `operations` for a write group and returns once a leader
    /// (perhaps this thread) committed them (lazily) and, if `durable`, once
    /// that commit is durable: their transaction's LSN and the keys their
    /// deletes removed. See WriteGroups/WriteGroup.swift.
    func writeQueued(_ operations: [KeyValueOperation], durable: Bool) throws(KeyValueError) -> (lsn: LSN, removed: Int) {
        // Bad input fails here, alone, before it can join a group.
        try check(operations)
        let request = WriteRequest(operations, durable: durable)
        submit([request])
        guard let outcome = request.outcome else { preconditionFailure("a led group sets every member's outcome") }
        return try outcome.get()
    }

    func check(_ operations: [KeyValueOperation]) throws(KeyValueError) {
        for op in operations {
            switch op {
            case .put(let k, let v): try checkEntry(key: k, value: v)
            case .delete(let k): try checkEntry(key: k, value: [])
            }
        }
    }

    /// Queues `requests` (consecutive in the queue) and returns once each
    /// has its outcome, leading the groups the queue hands this thread.
    func submit(_ requests: [WriteRequest]) {
        guard !requests.isEmpty else { return }
        groupCounters.writersInside.add(1, ordering: .relaxed)
        defer { groupCounters.writersInside.subtract(1, ordering: .relaxed) }
        let leads = queue.enqueue(requests)
        for (i, request) in requests.enumerated() {
            if !(leads && i == 0) {
                // Woken once: with the outcome, or to lead (at once if the
                // wake came first, e.g. from a group this thread led).
                request.park()
            }
            if request.outcome == nil {
                assert(request.leads, "a request without an outcome was woken to lead")
                lead(request)
            }
        }
    }

    func checkEntry(key: [UInt8], value: [UInt8]) throws(KeyValueError) {
        guard key.count <= keyBytesMax else { throw .keyTooLarge(bytes: key.count, max: keyBytesMax) }
        guard key.count + value.count <= entryBytesMax else { throw .entryTooLarge(bytes: key.count + value.count, max: entryBytesMax) }
    }
}
