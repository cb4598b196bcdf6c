import Journal
import PageStore

// The read API: every read is a page-store read transaction at the newest
// durable commit (snapshot isolation); readers take no lock.

extension KeyValueStore {
    // MARK: Reading

    /// The value of `key` in the newest durable state, or nil.
    ///
    /// Takes no lock and never waits for writers: one read transaction
    /// (snapshot) at the durable LSN. Thread-safe.
    ///
    /// - Throws: `KeyValueError.store` for the page store's failures,
    ///   `.corruption` for a damaged tree.
    /// - Complexity: O(log n) pages read.
    public func get(_ key: [UInt8]) throws(KeyValueError) -> [UInt8]? {
        let tx: ReadTransaction
        do { tx = try pageStore.beginRead() } catch { throw .store(error) }
        defer { tx.end() }
        // One page buffer; pages are searched in place.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageBytes, alignment: 16)
        defer { buffer.deallocate() }
        let page = UnsafeRawBufferPointer(buffer)
        func read(_ number: UInt64) throws(KeyValueError) {
            do { try tx.read(page: number, into: buffer) } catch { throw .store(error) }
        }
        try read(0)
        guard let meta = try Meta.decode(page) else { return nil }
        var number = meta.root
        let found = key.withUnsafeBytes { k in
            Result { () throws(KeyValueError) -> [UInt8]? in
                for _ in 0..<64 {
                    try read(number)
                    switch NodeView.kind(page) {
                    case Node.slottedLeafKind, Node.packedLeafKind: return try NodeView.value(page, key: k, number: number)
                    case Node.internalKind: number = try NodeView.child(page, key: k, number: number)
                    default: throw .corruption(page: number, detail: "not a node in the tree (kind \(NodeView.kind(page)))")
                    }
                }
                throw .corruption(page: number, detail: "tree deeper than 64 levels")
            }
        }
        return try found.get()
    }

    /// Calls `body` with every key at or after `start` (all keys when nil),
    /// in key order, in one snapshot; stop by returning false.
    ///
    /// Never waits for writers; writes during the scan are not seen. The
    /// snapshot's page versions stay in memory until it returns, so keep
    /// `body` short.
    ///
    /// - Throws: as `get(_:)`, or what `body` throws.
    /// - Complexity: O(log n + keys visited) pages read.
    public func scan(from start: [UInt8]? = nil, _ body: ([UInt8], [UInt8]) throws(KeyValueError) -> Bool) throws(KeyValueError) {
        let tx: ReadTransaction
        do { tx = try pageStore.beginRead() } catch { throw .store(error) }
        defer { tx.end() }
        let reader = TreeReader(read: { (p: UInt64) throws(PageStoreError) -> [UInt8] in try tx.read(page: p) })
        try reader.scan(from: start ?? [], body)
    }

    /// Every pair, in key order (one snapshot).
    ///
    /// - Throws: as `get(_:)`.
    /// - Complexity: O(n).
    public func all() throws(KeyValueError) -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        try scan { k, v in
            out.append((k, v))
            return true
        }
        return out
    }

    /// The number of keys in the newest durable state.
    ///
    /// - Throws: as `get(_:)`.
    /// - Complexity: O(1): one page read.
    public func count() throws(KeyValueError) -> UInt64 {
        let tx: ReadTransaction
        do { tx = try pageStore.beginRead() } catch { throw .store(error) }
        defer { tx.end() }
        let page: [UInt8]
        do { page = try tx.read(page: 0) } catch { throw .store(error) }
        return try Meta.decode(page)?.count ?? 0
    }

    /// Walks the whole tree and the free list in one snapshot and checks
    /// the structure: keys in order within and across nodes, every node
    /// within a page, no empty node below the root, the leaf chain visiting
    /// the leaves in order, the key count, and every page below the meta
    /// page's next-page mark either in the tree or on the free list, once.
    /// Fails with `corruption` on the first breach.
    ///
    /// For tests and checks: reads every page. Never waits for writers.
    /// - Complexity: O(pages in the store).
    public func verifyStructure() throws(KeyValueError) -> KeyValueStructure {
        let tx: ReadTransaction
        do { tx = try pageStore.beginRead() } catch { throw .store(error) }
        defer { tx.end() }
        let reader = TreeReader(read: { (p: UInt64) throws(PageStoreError) -> [UInt8] in try tx.read(page: p) })
        return try reader.verify(pageBytes: pageBytes)
    }
}
