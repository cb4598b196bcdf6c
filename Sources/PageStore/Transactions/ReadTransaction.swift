public import Journal
import JournalPrimitives

/// A read-only transaction: a snapshot at `lsn`, the newest durable commit
/// when it began. It sees exactly the commits at or below `lsn`, however
/// many follow, until `end()`. While it is open, the page versions it may
/// need stay in the page table (the table can grow past its threshold).
///
/// Use from one thread at a time.
public final class ReadTransaction: @unchecked Sendable {
    /// The store the transaction reads.
    public let store: PageStore
    /// The snapshot: every commit at or below it, none above.
    public let lsn: LSN
    private var ended = false

    init(store: PageStore, lsn: LSN) {
        self.store = store
        self.lsn = lsn
    }

    deinit { end() }

    /// Copies page `page` into `buffer` (exactly `pageBytes` long). A page
    /// never written reads as zeros.
    ///
    /// Never waits for writers or checkpoints; reads from memory, the
    /// journal's mapping or the data file.
    ///
    /// - Throws: `PageStoreError.transactionFinished` after `end()`,
    ///   `.wrongPageSize`, `.pageOutOfRange`, `.journal` or `.dataFile` if a
    ///   read fails.
    /// - Complexity: O(page bytes + versions of the page in the table).
    public func read(page: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(PageStoreError) {
        guard !ended else { throw .transactionFinished }
        guard buffer.count == store.pageBytes else { throw .wrongPageSize(bytes: buffer.count, pageBytes: store.pageBytes) }
        try store.readPage(page, at: lsn, into: buffer)
    }

    /// Page `page`, copied (zeros if never written).
    ///
    /// - Throws: as `read(page:into:)`.
    /// - Complexity: O(page bytes + versions of the page in the table).
    public func read(page: UInt64) throws(PageStoreError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: store.pageBytes)
        try withMutableBytes(&out) { (b: UnsafeMutableRawBufferPointer) throws(PageStoreError) in try read(page: page, into: b) }
        return out
    }

    /// Ends the transaction: old versions it held may be dropped. Idempotent;
    /// runs on deinit if not called. Never waits.
    public func end() {
        guard !ended else { return }
        ended = true
        store.releaseSnapshot(lsn)
    }
}
