public import Journal
public import PageStore

// A read-only key-value store beside a running writer, in this process or
// another: the B+tree read through a page-store reader
// (`PageStore.openReadOnly`), so every answer is the tree after exactly the
// committed batches at or below one durable LSN.

extension KeyValueStore {
    /// Opens the store at `location` read-only, beside a writer that holds
    /// it (in this process or another) or with none. Never writes the
    /// store's files and never takes its lock; a second *writer* is still
    /// refused with `locked`.
    ///
    /// Consistency: every read shows the tree after exactly the batches
    /// committed at or below the reader's `lsn`, all durable; `refresh()`
    /// and `updates()` move it forward, never back. See
    /// `PageStore.openReadOnly`.
    ///
    /// - Throws: `KeyValueError.store` wrapping what
    ///   `PageStore.openReadOnly` throws.
    /// - Complexity: O(snapshot pages + journal records after it).
    public static func openReadOnly(location: PageStoreLocation, options: PageStoreReadOptions = PageStoreReadOptions()) throws(KeyValueError) -> KeyValueStoreReader {
        do { return KeyValueStoreReader(pages: try PageStore.openReadOnly(location: location, options: options)) } catch { throw .store(error) }
    }

    /// The durable LSN: every read (`get`, `scan`) reflects the commits at
    /// or below it at least (they read at the newest durable commit).
    public var durableLSN: LSN { pageStore.durableLSN }
}

/// A key-value store opened read-only (`KeyValueStore.openReadOnly`).
///
/// Thread safety: every method may be called from any thread; a refresh
/// waits for reads in progress, so each read sees one LSN.
public final class KeyValueStoreReader: Sendable {
    /// The page-store reader under the tree.
    public let pages: PageStoreReader

    init(pages: PageStoreReader) { self.pages = pages }

    /// The LSN the reader reflects: the batches committed at or below it,
    /// none above.
    public var lsn: LSN { pages.lsn }

    /// Runs `body` with the tree at one LSN (no refresh runs meanwhile).
    ///
    /// - Throws: what `body` throws.
    public func withSnapshot<R>(_ body: (KeyValueSnapshot) throws(KeyValueError) -> R) throws(KeyValueError) -> R {
        try pages.withSnapshot { (s: PageStoreSnapshot) throws(KeyValueError) -> R in try body(KeyValueSnapshot(pages: s)) }
    }

    /// The value of `key` at `lsn`, or nil.
    ///
    /// - Throws: `KeyValueError.store` (`closed`, ...), `.corruption`.
    /// - Complexity: O(log n) pages read.
    public func get(_ key: [UInt8]) throws(KeyValueError) -> [UInt8]? {
        try withSnapshot { (s: KeyValueSnapshot) throws(KeyValueError) -> [UInt8]? in try s.get(key) }
    }

    /// Calls `body` with every key at or after `start` (all keys when nil),
    /// in key order, at one LSN; stop by returning false.
    ///
    /// - Returns: the LSN scanned.
    /// - Throws: as `get(_:)`, or what `body` throws.
    @discardableResult
    public func scan(from start: [UInt8]? = nil, _ body: ([UInt8], [UInt8]) throws(KeyValueError) -> Bool) throws(KeyValueError) -> LSN {
        try withSnapshot { (s: KeyValueSnapshot) throws(KeyValueError) -> LSN in
            try s.scan(from: start, body)
            return s.lsn
        }
    }

    /// Moves the reader to the newest durable commit (see
    /// `PageStoreReader.refresh()`).
    ///
    /// - Returns: the LSN it now reflects.
    /// - Throws: `KeyValueError.store` wrapping the page store's error.
    @discardableResult
    public func refresh() throws(KeyValueError) -> LSN {
        do { return try pages.refresh() } catch { throw .store(error) }
    }

    /// The reader's refreshes as commits become durable (see
    /// `PageStoreReader.updates()`).
    ///
    /// - Throws: `KeyValueError.store` wrapping the page store's error.
    public func updates() throws(KeyValueError) -> PageStoreReaderUpdates {
        do { return try pages.updates() } catch { throw .store(error) }
    }

    /// Closes the reader. Idempotent.
    public func close() { pages.close() }
}

/// The tree at one LSN, as a reader holds it; valid only inside the
/// `withSnapshot` call that passed it.
public struct KeyValueSnapshot {
    let pages: PageStoreSnapshot

    /// Every batch committed at or below it, none above.
    public var lsn: LSN { pages.lsn }

    private var tree: TreeReader {
        let pages = self.pages
        return TreeReader(read: { (p: UInt64) throws(PageStoreError) -> [UInt8] in try pages.read(page: p) })
    }

    /// The value of `key`, or nil.
    ///
    /// - Throws: `KeyValueError.store`, `.corruption`.
    public func get(_ key: [UInt8]) throws(KeyValueError) -> [UInt8]? { try tree.get(key) }

    /// Calls `body` with every key at or after `start`, in key order; stop
    /// by returning false.
    ///
    /// - Throws: as `get(_:)`, or what `body` throws.
    public func scan(from start: [UInt8]? = nil, _ body: ([UInt8], [UInt8]) throws(KeyValueError) -> Bool) throws(KeyValueError) {
        try tree.scan(from: start ?? [], body)
    }

    /// The number of keys.
    ///
    /// - Throws: as `get(_:)`.
    public func count() throws(KeyValueError) -> UInt64 {
        try Meta.decode(try tree.page(0))?.count ?? 0
    }
}
