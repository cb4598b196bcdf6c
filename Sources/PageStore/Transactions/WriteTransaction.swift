public import Journal
import JournalPrimitives

/// A write transaction: reads at `startLSN` (the newest published commit
/// when it began) plus its own writes; writes whole pages; commits them as
/// one journal record, all or nothing.
///
/// Conflict rule (optimistic): commit fails with `conflict` if a page this
/// transaction writes was written by a commit after `startLSN`. Pages only
/// read are not checked (snapshot isolation, not serializability): callers
/// that need more serialize their writers (the key-value store holds a latch).
///
/// Use from one thread at a time.
public final class WriteTransaction: @unchecked Sendable {
    /// The store the transaction writes.
    public let store: PageStore
    /// The snapshot it reads: the newest published commit when it began.
    public let startLSN: LSN
    private var writes: [UInt64: [UInt8]] = [:]
    private var finished = false

    init(store: PageStore, startLSN: LSN) {
        self.store = store
        self.startLSN = startLSN
    }

    deinit { abort() }

    /// Pages written so far.
    public var writtenPageCount: Int { writes.count }

    /// Copies page `page` as this transaction sees it into `buffer`
    /// (exactly `pageBytes` long): its own write, or the page at `startLSN`.
    ///
    /// - Throws: `PageStoreError.transactionFinished`, `.wrongPageSize`,
    ///   `.pageOutOfRange`, `.journal` or `.dataFile` if a read fails.
    /// - Complexity: O(page bytes + versions of the page in the table).
    public func read(page: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(PageStoreError) {
        guard !finished else { throw .transactionFinished }
        guard buffer.count == store.pageBytes else { throw .wrongPageSize(bytes: buffer.count, pageBytes: store.pageBytes) }
        if let own = writes[page] {
            own.withUnsafeBytes { buffer.copyMemory(from: $0) }
            return
        }
        try store.readPage(page, at: startLSN, into: buffer)
    }

    /// Page `page` as this transaction sees it, copied.
    ///
    /// - Throws: as `read(page:into:)`.
    /// - Complexity: O(page bytes + versions of the page in the table).
    public func read(page: UInt64) throws(PageStoreError) -> [UInt8] {
        guard !finished else { throw .transactionFinished }
        if let own = writes[page] { return own }
        var out = [UInt8](repeating: 0, count: store.pageBytes)
        try withMutableBytes(&out) { (b: UnsafeMutableRawBufferPointer) throws(PageStoreError) in
            try store.readPage(page, at: startLSN, into: b)
        }
        return out
    }

    /// Replaces page `page` with `image` (exactly `pageBytes` long) in this
    /// transaction. Nothing reaches the journal before commit.
    ///
    /// - Throws: `PageStoreError.transactionFinished`, `.pageOutOfRange`,
    ///   `.wrongPageSize`.
    /// - Complexity: O(1) amortized (the image is kept, not copied).
    public func write(page: UInt64, _ image: [UInt8]) throws(PageStoreError) {
        guard !finished else { throw .transactionFinished }
        try store.checkPage(page)
        guard image.count == store.pageBytes else { throw .wrongPageSize(bytes: image.count, pageBytes: store.pageBytes) }
        writes[page] = image
    }

    /// Commits and returns once the commit is durable. Returns the commit's
    /// LSN (for a transaction that wrote nothing: its start LSN, nothing is
    /// written). On `conflict`, `transactionTooLarge` or `closed` nothing was
    /// written; on a journal error after the record was queued the outcome
    /// is unknown until the store is reopened.
    ///
    /// Blocks the calling thread for the durable write, shared with
    /// concurrent commits (the journal's group commit). May apply or
    /// checkpoint on this thread first when commits outrun the maintenance
    /// thread (`PageStoreOptions.maintenanceBackpressureFactor`).
    ///
    /// - Throws: `PageStoreError.conflict`, `.transactionTooLarge`,
    ///   `.transactionFinished`, `.closed`, `.journal`.
    /// - Complexity: O(pages written × page bytes) to encode the record.
    @discardableResult
    public func commit() throws(PageStoreError) -> LSN {
        let lsn = try commitLazy()
        try store.waitUntilDurable(lsn)
        return lsn
    }

    /// Commits and resumes once the commit is durable (see `commit()`):
    /// suspends the task for the durable write instead of blocking a thread.
    /// Not cancellable.
    ///
    /// - Throws: as `commit()`.
    @discardableResult
    public func commit() async throws(PageStoreError) -> LSN {
        let lsn = try commitLazy()
        try await store.waitUntilDurable(lsn)
        return lsn
    }

    /// Commits WITHOUT waiting for durability: returns once the commit has
    /// its LSN and is visible to later write transactions. It becomes
    /// visible to read transactions, and survives a crash, only once
    /// durable (`store.waitUntilDurable(lsn)`); a crash before that loses it
    /// and every later commit, never an earlier one.
    ///
    /// Does not wait for the disk; blocks only while the journal's batch
    /// buffers are all busy. The transaction is finished afterwards, even
    /// when it throws.
    ///
    /// - Throws: as `commit()`.
    /// - Complexity: O(pages written × page bytes) to encode the record.
    @discardableResult
    public func commitLazy() throws(PageStoreError) -> LSN {
        try commitLazy(writingInlineFrom: nil)
    }

    /// As `commitLazy()`, for a caller that waits for the commit's
    /// durability next and has nothing to do meanwhile (a lone writer):
    /// when the journal is idle and the journal's inline-write rule for
    /// `writer` allows, the record is written from this thread before the
    /// commit returns, so the wait that follows returns at once and no
    /// thread was woken for it. The commit lock is held for that write:
    /// concurrent committers wait for it. nil: as `commitLazy()`.
    ///
    /// - Throws: as `commit()`.
    @discardableResult
    public func commitLazy(writingInlineFrom writer: InlineWriter?) throws(PageStoreError) -> LSN {
        guard !finished else { throw .transactionFinished }
        finished = true
        defer { store.releaseSnapshot(startLSN) }
        if writes.isEmpty { return startLSN }
        let pages = writes
        writes = [:]
        return try store.commit(pages: pages, startLSN: startLSN, inline: writer)
    }

    /// Drops the transaction's writes. Idempotent; runs on deinit if the
    /// transaction was neither committed nor aborted. Never waits.
    public func abort() {
        guard !finished else { return }
        finished = true
        writes = [:]
        store.releaseSnapshot(startLSN)
    }
}
