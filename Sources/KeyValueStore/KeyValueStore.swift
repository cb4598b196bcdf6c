public import Journal
public import PageStore
import Synchronization

// A key-value store on the page store: a B+tree of pages (Node.swift),
// every write a page-store transaction, the journal its commit log.
//
// Concurrency: writers hold `latch` while they read and modify the tree and
// queue their commit (`commitLazy`: LSN assigned, visible to the next
// writer), then release it and wait for durability outside it. So 64
// concurrent `put`s queue 64 records while the disk writes the previous
// batch, and the journal group-commits them: one durable write for many
// puts. The latch makes write transactions serial, so they never conflict.
// Readers take no latch: each read is a page-store read transaction at the
// newest durable commit (snapshot isolation), so a `get` after a `put`
// returned sees it.
//
// Limits: a key of at most `keyBytesMax` bytes; key plus value of at most
// `entryBytesMax` bytes (a quarter page less the entry header), so a split
// always leaves both halves within a page. Deletes do not merge nodes:
// leaves may become empty and stay linked (scans skip them); pages are
// never freed.

/// One write of a batch.
public enum KeyValueOperation: Sendable, Equatable {
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])
}

public enum KeyValueError: Error, Sendable, Equatable, CustomStringConvertible {
    case store(PageStoreError)
    case keyTooLarge(bytes: Int, max: Int)
    case entryTooLarge(bytes: Int, max: Int)
    case corruption(page: UInt64, detail: String)
    case newerFormat(found: UInt16, supported: UInt16)

    public var description: String {
        switch self {
        case .store(let e): "\(e)"
        case .keyTooLarge(let b, let m): "key of \(b) bytes exceeds the maximum of \(m) bytes"
        case .entryTooLarge(let b, let m): "key plus value of \(b) bytes exceeds the maximum of \(m) bytes"
        case .corruption(let p, let d): "corrupt B+tree page \(p): \(d)"
        case .newerFormat(let f, let s): "the key-value store uses format version \(f); this build reads up to \(s)"
        }
    }
}

/// A durable, ordered key-value store.
///
/// Thread safety: every method may be called from any thread.
/// Durability: `put`, `delete` and `write` return once the change is on
/// stable storage; `writeLazy` returns before (see its contract).
public final class KeyValueStore: @unchecked Sendable {
    public let pageStore: PageStore
    public let pageBytes: Int
    public let keyBytesMax: Int
    public let entryBytesMax: Int
    private let latch = Mutex<Void>(())

    /// Creates an empty store at `location` (see `PageStore.create`).
    public static func create(location: PageStoreLocation, configuration: PageStoreConfiguration = PageStoreConfiguration()) throws(KeyValueError) {
        do { try PageStore.create(location: location, configuration: configuration) } catch { throw .store(error) }
    }

    /// Opens (and recovers) the store at `location`.
    public static func open(location: PageStoreLocation, options: PageStoreOptions = PageStoreOptions()) throws(KeyValueError) -> KeyValueStore {
        let store: PageStore
        do { store = try PageStore.open(location: location, options: options) } catch { throw .store(error) }
        return KeyValueStore(pageStore: store)
    }

    /// A key-value store over an open page store (which it then owns).
    public init(pageStore: PageStore) {
        self.pageStore = pageStore
        self.pageBytes = pageStore.pageBytes
        self.entryBytesMax = (pageStore.pageBytes - Node.headerBytes) / 4 - 4
        self.keyBytesMax = min(256, entryBytesMax)
    }

    public func close() { pageStore.close() }

    // MARK: Writing

    /// Sets `key` to `value`; returns once durable.
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(KeyValueError) {
        try write([.put(key: key, value: value)])
    }

    /// Removes `key`; returns whether it was there, once durable.
    @discardableResult
    public func delete(_ key: [UInt8]) throws(KeyValueError) -> Bool {
        let (lsn, removed) = try writeQueued([.delete(key: key)])
        try waitUntilDurable(lsn)
        return removed > 0
    }

    /// Applies `operations` in order as one transaction (all or nothing,
    /// one journal record); returns its LSN once durable.
    @discardableResult
    public func write(_ operations: [KeyValueOperation]) throws(KeyValueError) -> LSN {
        let lsn = try writeQueued(operations).lsn
        try waitUntilDurable(lsn)
        return lsn
    }

    /// As `write`, but returns before durability: the batch is visible to
    /// later writes at once, to reads once durable, and is lost in a crash
    /// before then (with every later batch, never an earlier one).
    @discardableResult
    public func writeLazy(_ operations: [KeyValueOperation]) throws(KeyValueError) -> LSN {
        try writeQueued(operations).lsn
    }

    /// Waits until the batch with LSN `lsn` is durable.
    public func waitUntilDurable(_ lsn: LSN) throws(KeyValueError) {
        do { try pageStore.waitUntilDurable(lsn) } catch { throw .store(error) }
    }

    private func writeQueued(_ operations: [KeyValueOperation]) throws(KeyValueError) -> (lsn: LSN, removed: Int) {
        for op in operations {
            switch op {
            case .put(let k, let v): try checkEntry(key: k, value: v)
            case .delete(let k): try checkEntry(key: k, value: [])
            }
        }
        return try latch.withLock { _ throws(KeyValueError) -> (LSN, Int) in
            let tx: WriteTransaction
            do throws(PageStoreError) { tx = try pageStore.beginWrite() } catch { throw .store(error) }
            var tree = TreeWriter(tx: tx, pageBytes: pageBytes)
            var removed = 0
            do throws(KeyValueError) {
                try tree.loadMeta()
                for op in operations {
                    switch op {
                    case .put(let k, let v): try tree.put(k, v)
                    case .delete(let k): if try tree.delete(k) { removed += 1 }
                    }
                }
                try tree.flush()
            } catch {
                tx.abort()
                throw error
            }
            do throws(PageStoreError) { return (try tx.commitLazy(), removed) } catch { throw .store(error) }
        }
    }

    private func checkEntry(key: [UInt8], value: [UInt8]) throws(KeyValueError) {
        guard key.count <= keyBytesMax else { throw .keyTooLarge(bytes: key.count, max: keyBytesMax) }
        guard key.count + value.count <= entryBytesMax else { throw .entryTooLarge(bytes: key.count + value.count, max: entryBytesMax) }
    }

    // MARK: Reading

    /// The value of `key` in the newest durable state, or nil.
    public func get(_ key: [UInt8]) throws(KeyValueError) -> [UInt8]? {
        let tx: ReadTransaction
        do { tx = try pageStore.beginRead() } catch { throw .store(error) }
        defer { tx.end() }
        let reader = TreeReader(read: { (p: UInt64) throws(PageStoreError) -> [UInt8] in try tx.read(page: p) })
        return try reader.get(key)
    }

    /// Calls `body` with every key at or after `start` (all keys when nil),
    /// in key order, in one snapshot; stop by returning false.
    public func scan(from start: [UInt8]? = nil, _ body: ([UInt8], [UInt8]) throws(KeyValueError) -> Bool) throws(KeyValueError) {
        let tx: ReadTransaction
        do { tx = try pageStore.beginRead() } catch { throw .store(error) }
        defer { tx.end() }
        let reader = TreeReader(read: { (p: UInt64) throws(PageStoreError) -> [UInt8] in try tx.read(page: p) })
        try reader.scan(from: start ?? [], body)
    }

    /// Every pair, in key order (one snapshot).
    public func all() throws(KeyValueError) -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        try scan { k, v in
            out.append((k, v))
            return true
        }
        return out
    }

    /// The number of keys in the newest durable state.
    public func count() throws(KeyValueError) -> UInt64 {
        let tx: ReadTransaction
        do { tx = try pageStore.beginRead() } catch { throw .store(error) }
        defer { tx.end() }
        let page: [UInt8]
        do { page = try tx.read(page: 0) } catch { throw .store(error) }
        return try Meta.decode(page)?.count ?? 0
    }

    /// Writes a checkpoint of the page store (see `PageStore.checkpoint`).
    @discardableResult
    public func checkpoint() throws(KeyValueError) -> CheckpointReport {
        do { return try pageStore.checkpoint() } catch { throw .store(error) }
    }
}

/// Reads the tree through a page source.
struct TreeReader {
    let read: (UInt64) throws(PageStoreError) -> [UInt8]

    func page(_ number: UInt64) throws(KeyValueError) -> [UInt8] {
        do { return try read(number) } catch { throw .store(error) }
    }

    func node(_ number: UInt64) throws(KeyValueError) -> Node {
        try Node.decode(try page(number), number: number)
    }

    /// The leaf that holds `key` (nil: the tree is empty).
    func leaf(for key: [UInt8]) throws(KeyValueError) -> (number: UInt64, node: Node)? {
        guard let meta = try Meta.decode(try page(0)) else { return nil }
        var number = meta.root
        var depth = 0
        while true {
            let n = try node(number)
            if n.isLeaf { return (number, n) }
            number = n.children[n.childIndex(for: key)]
            depth += 1
            guard depth < 64 else { throw .corruption(page: number, detail: "tree deeper than 64 levels") }
        }
    }

    func get(_ key: [UInt8]) throws(KeyValueError) -> [UInt8]? {
        guard let (_, leaf) = try leaf(for: key) else { return nil }
        let (i, found) = leaf.search(key)
        return found ? leaf.values[i] : nil
    }

    func scan(from start: [UInt8], _ body: ([UInt8], [UInt8]) throws(KeyValueError) -> Bool) throws(KeyValueError) {
        guard var (_, leaf) = try leaf(for: start) else { return }
        var i = leaf.search(start).index
        var visited = 0
        while true {
            while i < leaf.keys.count {
                if try !body(leaf.keys[i], leaf.values[i]) { return }
                i += 1
            }
            guard leaf.next != 0 else { return }
            leaf = try node(leaf.next)
            i = 0
            visited += 1
            guard leaf.isLeaf else { throw .corruption(page: 0, detail: "leaf chain reaches an internal node") }
        }
    }
}

/// Modifies the tree inside one write transaction; changed nodes are
/// encoded once, at `flush`.
struct TreeWriter {
    let tx: WriteTransaction
    let pageBytes: Int
    var meta = Meta(root: 1, nextPage: 2, count: 0)
    var dirty: [UInt64: Node] = [:]
    var metaDirty = false

    init(tx: WriteTransaction, pageBytes: Int) {
        self.tx = tx
        self.pageBytes = pageBytes
    }

    mutating func loadMeta() throws(KeyValueError) {
        if let m = try Meta.decode(try page(0)) {
            meta = m
        } else {
            // A fresh store: page 1 is the empty root leaf.
            meta = Meta(root: 1, nextPage: 2, count: 0)
            dirty[1] = Node.emptyLeaf()
            metaDirty = true
        }
    }

    func page(_ number: UInt64) throws(KeyValueError) -> [UInt8] {
        do { return try tx.read(page: number) } catch { throw .store(error) }
    }

    func node(_ number: UInt64) throws(KeyValueError) -> Node {
        if let n = dirty[number] { return n }
        return try Node.decode(try page(number), number: number)
    }

    mutating func allocate() throws(KeyValueError) -> UInt64 {
        let number = meta.nextPage
        guard number < tx.store.pageCountMax else { throw .store(.pageOutOfRange(page: number, pageCountMax: tx.store.pageCountMax)) }
        meta.nextPage += 1
        metaDirty = true
        return number
    }

    /// The root-to-leaf path for `key`: (page, node, child index taken).
    func path(to key: [UInt8]) throws(KeyValueError) -> [(number: UInt64, node: Node, child: Int)] {
        var out: [(UInt64, Node, Int)] = []
        var number = meta.root
        while true {
            let n = try node(number)
            if n.isLeaf {
                out.append((number, n, 0))
                return out
            }
            let c = n.childIndex(for: key)
            out.append((number, n, c))
            number = n.children[c]
            guard out.count < 64 else { throw .corruption(page: number, detail: "tree deeper than 64 levels") }
        }
    }

    mutating func put(_ key: [UInt8], _ value: [UInt8]) throws(KeyValueError) {
        var path = try path(to: key)
        var (number, leaf, _) = path.removeLast()
        let (i, found) = leaf.search(key)
        if found {
            leaf.values[i] = value
        } else {
            leaf.keys.insert(key, at: i)
            leaf.values.insert(value, at: i)
            meta.count += 1
            metaDirty = true
        }
        // Split upwards while a node overflows.
        var node = leaf
        while node.encodedBytes > pageBytes {
            let (right, separator) = node.split()
            let rightNumber = try allocate()
            if node.isLeaf { node.next = rightNumber }
            dirty[number] = node
            dirty[rightNumber] = right
            if let (parentNumber, parentNode, child) = path.popLast() {
                var parent = parentNode
                parent.keys.insert(separator, at: child)
                parent.children.insert(rightNumber, at: child + 1)
                number = parentNumber
                node = parent
            } else {
                let rootNumber = try allocate()
                var root = Node(isLeaf: false)
                root.keys = [separator]
                root.children = [number, rightNumber]
                meta.root = rootNumber
                number = rootNumber
                node = root
            }
        }
        dirty[number] = node
    }

    mutating func delete(_ key: [UInt8]) throws(KeyValueError) -> Bool {
        let path = try path(to: key)
        guard let (number, leafNode, _) = path.last else { return false }
        var leaf = leafNode
        let (i, found) = leaf.search(key)
        guard found else { return false }
        leaf.keys.remove(at: i)
        leaf.values.remove(at: i)
        dirty[number] = leaf
        meta.count -= 1
        metaDirty = true
        return true
    }

    func flush() throws(KeyValueError) {
        do {
            for (number, node) in dirty { try tx.write(page: number, node.encode(pageBytes: pageBytes)) }
            if metaDirty { try tx.write(page: 0, meta.encode(pageBytes: pageBytes)) }
        } catch {
            throw .store(error)
        }
    }
}
