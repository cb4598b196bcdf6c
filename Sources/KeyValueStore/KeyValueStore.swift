public import Journal
public import PageStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// A key-value store on the page store: a B+tree of pages (Node.swift),
// every write a page-store transaction, the journal its commit log.
//
// Concurrency: writers queue their batches; one leader at a time takes the
// queued batches, applies them to the tree in one write transaction (a
// write group, WriteGroup.swift) and queues its commit (`commitLazy`: LSN
// assigned, visible to the next group), then hands the leadership on; every
// writer waits for durability on its own. So 64 concurrent `put`s make a
// few transactions while the disk writes the previous ones, and the journal
// group-commits those: one durable write for many puts. Leaders are serial,
// so write transactions never conflict.
// Readers take no lock: each read is a page-store read transaction at the
// newest durable commit (snapshot isolation), so a `get` after a `put`
// returned sees it.
//
// Limits: a key of at most `keyBytesMax` bytes; key plus value of at most
// `entryBytesMax` bytes (a quarter page less the entry header), so a split
// always leaves both halves within a page.
//
// Node sizes (`TreeWriter.rebalance`): after every change, bottom-up, a node
// over a page splits; a non-root node under a quarter page
// (`underfullBytes`) merges with a sibling when both fit in one page, else
// the two share their entries evenly; an internal root left with one child
// is replaced by it. Pages a merge or collapse frees go on a free list
// (chained through the free pages, head in the meta page) that allocations
// take from first; all of it inside the writing transaction, so a crash
// never loses or leaks a page.

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
    /// Writers queue their batches here; one leader at a time applies them
    /// (WriteGroup.swift), so write transactions are serial.
    private let queue = WriteQueue(inFlightMax: 2)
    /// Tests: called by each leader before it takes its group.
    var beforeGroupHook: (@Sendable () -> Void)?
    /// Tests: requests queued and not yet taken by a leader.
    var queuedRequestCount: Int { queue.queuedCount }
    /// Write-group counters (`writeGroupStatistics`); written by leaders.
    let groupCounters = GroupCounters()
    /// The decoded nodes of the newest published tree, so writers decode a
    /// page once, not on every put. Used by the group leader only.
    private let nodeCache = NodeCache()

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
        try writeQueued([.delete(key: key)], durable: true).removed > 0
    }

    /// Applies `operations` in order as one transaction (all or nothing,
    /// one journal record); returns its LSN once durable.
    @discardableResult
    public func write(_ operations: [KeyValueOperation]) throws(KeyValueError) -> LSN {
        try writeQueued(operations, durable: true).lsn
    }

    /// As `write`, but returns before durability: the batch is visible to
    /// later writes at once, to reads once durable, and is lost in a crash
    /// before then (with every later batch, never an earlier one).
    @discardableResult
    public func writeLazy(_ operations: [KeyValueOperation]) throws(KeyValueError) -> LSN {
        try writeQueued(operations, durable: false).lsn
    }

    /// Waits until the batch with LSN `lsn` is durable.
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

    /// Sets `key` to `value`; resumes once durable.
    public func put(_ key: [UInt8], _ value: [UInt8]) async throws(KeyValueError) {
        try await write([.put(key: key, value: value)])
    }

    /// Removes `key`; resumes once durable with whether it was there.
    @discardableResult
    public func delete(_ key: [UInt8]) async throws(KeyValueError) -> Bool {
        try await writeQueued([.delete(key: key)], durable: true).removed > 0
    }

    /// Applies `operations` in order as one transaction (all or nothing,
    /// one journal record); resumes once durable with its LSN.
    @discardableResult
    public func write(_ operations: [KeyValueOperation]) async throws(KeyValueError) -> LSN {
        try await writeQueued(operations, durable: true).lsn
    }

    /// As `writeLazy`, from a task: resumes before durability.
    @discardableResult
    public func writeLazy(_ operations: [KeyValueOperation]) async throws(KeyValueError) -> LSN {
        try await writeQueued(operations, durable: false).lsn
    }

    /// Suspends until the batch with LSN `lsn` is durable.
    public func waitUntilDurable(_ lsn: LSN) async throws(KeyValueError) {
        do { try await pageStore.waitUntilDurable(lsn) } catch { throw .store(error) }
    }

    /// As the blocking `writeQueued`, suspending rather than parking.
    private func writeQueued(_ operations: [KeyValueOperation], durable: Bool) async throws(KeyValueError) -> (lsn: LSN, removed: Int) {
        try check(operations)
        let request = WriteRequest(operations, durable: durable, isTask: true)
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
    /// deletes removed. See WriteGroup.swift.
    private func writeQueued(_ operations: [KeyValueOperation], durable: Bool) throws(KeyValueError) -> (lsn: LSN, removed: Int) {
        // Bad input fails here, alone, before it can join a group.
        try check(operations)
        let request = WriteRequest(operations, durable: durable)
        submit([request])
        guard let outcome = request.outcome else { preconditionFailure("a led group sets every member's outcome") }
        return try outcome.get()
    }

    private func check(_ operations: [KeyValueOperation]) throws(KeyValueError) {
        for op in operations {
            switch op {
            case .put(let k, let v): try checkEntry(key: k, value: v)
            case .delete(let k): try checkEntry(key: k, value: [])
            }
        }
    }

    /// Queues `requests` (consecutive in the queue) and returns once each
    /// has its outcome, leading the groups the queue hands this thread.
    private func submit(_ requests: [WriteRequest]) {
        guard !requests.isEmpty else { return }
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

    /// Transactions committed by write groups and the batches they held
    /// since the store opened: batches per transaction is the mean group size.
    public var writeGroupStatistics: (transactions: Int, batches: Int) {
        (groupCounters.transactions.load(ordering: .relaxed), groupCounters.batches.load(ordering: .relaxed))
    }

    /// Leads one write group (`leader` is the oldest queued request): applies
    /// the group, hands the leadership on, wakes the lazy members at once,
    /// waits for the group's durability, then wakes the others. So a member
    /// sleeps once per batch, and only the leader waits on the journal.
    private func lead(_ leader: WriteRequest) {
        guard let (group, durableLSN) = applyGroup(leader) else { return }
        var failure: PageStoreError?
        do throws(PageStoreError) { try pageStore.waitUntilDurable(durableLSN) } catch { failure = error }
        finishGroup(group, leader: leader, failure: failure)
    }

    /// As `lead`, for a task: suspends (holds no thread) while the group's
    /// record is being written.
    private func lead(_ leader: WriteRequest) async {
        guard let (group, durableLSN) = applyGroup(leader) else { return }
        var failure: PageStoreError?
        do throws(PageStoreError) { try await pageStore.waitUntilDurable(durableLSN) } catch { failure = error }
        finishGroup(group, leader: leader, failure: failure)
    }

    /// The leader's first half: takes and applies the group, hands the
    /// leadership on, wakes the lazy members. Returns the group and the LSN
    /// its durable members wait for, or nil when none does (all are woken).
    private func applyGroup(_ leader: WriteRequest) -> (group: [WriteRequest], durableLSN: LSN)? {
        beforeGroupHook?()
        let group = queue.takeGroup(leader: leader)
        apply(group)
        var durableLSN: LSN?
        for member in group where member.durable {
            if case .success(let (lsn, _)) = member.outcome { durableLSN = max(durableLSN ?? lsn, lsn) }
        }
        // The next group gathers (and commits, within the in-flight bound)
        // while this one's record is being written.
        queue.finishLeading(awaitsDurability: durableLSN != nil)?.unpark()
        for member in group where !member.durable && member !== leader {
            assert(member.outcome != nil, "every member has its outcome before it wakes")
            member.unpark()
        }
        guard let durableLSN else { return nil }
        return (group, durableLSN)
    }

    /// The leader's second half, once the group's durability wait returned
    /// (durability is a prefix: the newest LSN covers the group) or failed
    /// with `failure`: sets the durable members' outcomes, hands the
    /// leadership on, wakes them.
    private func finishGroup(_ group: [WriteRequest], leader: WriteRequest, failure: PageStoreError?) {
        if let failure {
            for member in group where member.durable {
                if case .success = member.outcome { member.outcome = .failure(.store(failure)) }
            }
        }
        queue.finishWaiting()?.unpark()
        for member in group where member.durable && member !== leader {
            assert(member.outcome != nil, "every member has its outcome before it wakes")
            member.unpark()
        }
    }

    /// Sets the outcome of every request of `group`, in order: chunks of
    /// requests applied together in one transaction each (a chunk ends once
    /// its dirty pages reach `groupPagesMax`); a chunk that fails is applied
    /// again one request per transaction, so each gets its own result.
    private func apply(_ group: [WriteRequest]) {
        var start = 0
        while start < group.count {
            let (end, result) = applyChunk(group, from: start)
            assert(end > start && end <= group.count, "a chunk takes at least one request")
            switch result {
            case .success(let lsn):
                for r in group[start..<end] { r.outcome = .success((lsn, r.removed)) }
            case .failure(let error) where end - start == 1:
                group[start].outcome = .failure(error)
            case .failure:
                groupCounters.failedChunks.add(1, ordering: .relaxed)
                for r in group[start..<end] {
                    let alone = applyChunk([r], from: 0)
                    assert(alone.end == 1)
                    r.outcome = alone.result.map { ($0, r.removed) }
                }
            }
            start = end
        }
    }

    /// Pages a chunk may dirty before it takes no further request: half a
    /// journal record, so a request that dirties a few pages more still
    /// fits (one that does not makes the chunk fail and run one by one).
    private var groupPagesMax: Int {
        let recordBytesMax = pageStore.journal.configuration.recordBytesMax
        let pagesMax = (recordBytesMax - TransactionRecord.recordBytes(pageCount: 0, pageBytes: pageBytes)) / (8 + pageBytes)
        return max(1, pagesMax / 2)
    }

    /// Applies requests from `start` on in one transaction, while its dirty
    /// pages stay under `groupPagesMax`, and commits it lazily. Returns the
    /// end of the chunk (a request that failed is its last) and the LSN or
    /// the error; on error nothing was committed or published.
    private func applyChunk(_ group: [WriteRequest], from start: Int) -> (end: Int, result: Result<LSN, KeyValueError>) {
        let tx: WriteTransaction
        do throws(PageStoreError) { tx = try pageStore.beginWrite() } catch { return (start + 1, .failure(.store(error))) }
        var tree = TreeWriter(tx: tx, pageBytes: pageBytes, cache: nodeCache)
        var end = start
        do throws(KeyValueError) {
            try tree.loadMeta()
            let pagesMax = groupPagesMax
            while end < group.count && (end == start || tree.dirty.count + 1 < pagesMax) {
                let request = group[end]
                end += 1
                request.removed = 0
                for op in request.operations {
                    switch op {
                    case .put(let k, let v): try tree.put(k, v)
                    case .delete(let k): if try tree.delete(k) { request.removed += 1 }
                    }
                }
            }
            try tree.flush()
        } catch {
            tx.abort()
            return (end, .failure(error))
        }
        let lsn: LSN
        do throws(PageStoreError) { lsn = try tx.commitLazy() } catch { return (end, .failure(.store(error))) }
        // Published: the next transaction reads these.
        nodeCache.publish(tree.dirty, meta: tree.meta)
        groupCounters.transactions.add(1, ordering: .relaxed)
        groupCounters.batches.add(end - start, ordering: .relaxed)
        return (end, .success(lsn))
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
                    case 1: return try NodeView.value(page, key: k, number: number)
                    case 2: number = try NodeView.child(page, key: k, number: number)
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

    /// Walks the whole tree and the free list in one snapshot and checks
    /// the structure: keys in order within and across nodes, every node
    /// within a page, no empty node below the root, the leaf chain visiting
    /// the leaves in order, the key count, and every page below the meta
    /// page's next-page mark either in the tree or on the free list, once.
    /// Fails with `corruption` on the first breach.
    public func verifyStructure() throws(KeyValueError) -> KeyValueStructure {
        let tx: ReadTransaction
        do { tx = try pageStore.beginRead() } catch { throw .store(error) }
        defer { tx.end() }
        let reader = TreeReader(read: { (p: UInt64) throws(PageStoreError) -> [UInt8] in try tx.read(page: p) })
        return try reader.verify(pageBytes: pageBytes)
    }

    /// Writes a checkpoint of the page store (see `PageStore.checkpoint`).
    @discardableResult
    public func checkpoint() throws(KeyValueError) -> CheckpointReport {
        do { return try pageStore.checkpoint() } catch { throw .store(error) }
    }
}

/// The shape of the tree, as `verifyStructure` found it.
public struct KeyValueStructure: Sendable, Equatable {
    /// Levels, 1 for a lone root leaf (0: no tree yet).
    public var depth = 0
    public var leafPages = 0
    public var internalPages = 0
    public var freePages = 0
    public var keys: UInt64 = 0
    /// Pages ever allocated, the meta page included (the free list reuses them).
    public var allocatedPages: UInt64 = 0
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
            if n.isFree { throw .corruption(page: number, detail: "a free page in the tree") }
            if n.isLeaf { return (number, n) }
            number = n.children[n.childIndex(for: key)]
            depth += 1
            guard depth < 64 else { throw .corruption(page: number, detail: "tree deeper than 64 levels") }
        }
    }

    func verify(pageBytes: Int) throws(KeyValueError) -> KeyValueStructure {
        var out = KeyValueStructure()
        guard let meta = try Meta.decode(try page(0)) else { return out }
        out.allocatedPages = meta.nextPage
        var seen: Set<UInt64> = [0]
        func claim(_ number: UInt64) throws(KeyValueError) {
            guard number > 0 && number < meta.nextPage else { throw .corruption(page: number, detail: "beyond the allocated pages") }
            guard seen.insert(number).inserted else { throw .corruption(page: number, detail: "reached twice") }
        }
        // Depth-first, left to right: leaves come in key order.
        var leaves: [UInt64] = []
        var lastKey: [UInt8]?
        var depth = 0
        func walk(_ number: UInt64, level: Int, low: [UInt8]?, high: [UInt8]?) throws(KeyValueError) {
            try claim(number)
            let n = try node(number)
            guard !n.isFree else { throw .corruption(page: number, detail: "a free page in the tree") }
            guard n.encodedBytes <= pageBytes else { throw .corruption(page: number, detail: "over a page") }
            if level > 0 && n.keys.isEmpty { throw .corruption(page: number, detail: "an empty node below the root") }
            for k in n.keys {
                if let low, k.lexicographicallyPrecedes(low) { throw .corruption(page: number, detail: "a key below its subtree's range") }
                if let high, !k.lexicographicallyPrecedes(high) { throw .corruption(page: number, detail: "a key above its subtree's range") }
            }
            if n.isLeaf {
                if depth == 0 { depth = level + 1 }
                guard depth == level + 1 else { throw .corruption(page: number, detail: "leaves on different levels") }
                for k in n.keys {
                    if let lastKey, !lastKey.lexicographicallyPrecedes(k) { throw .corruption(page: number, detail: "keys out of order") }
                    lastKey = k
                }
                leaves.append(number)
                out.leafPages += 1
                out.keys += UInt64(n.keys.count)
                return
            }
            out.internalPages += 1
            guard n.children.count == n.keys.count + 1 else { throw .corruption(page: number, detail: "children and keys disagree") }
            for (i, child) in n.children.enumerated() {
                try walk(child, level: level + 1, low: i == 0 ? low : n.keys[i - 1], high: i < n.keys.count ? n.keys[i] : high)
            }
        }
        try walk(meta.root, level: 0, low: nil, high: nil)
        out.depth = depth
        for (i, number) in leaves.enumerated() {
            let expected = i + 1 < leaves.count ? leaves[i + 1] : 0
            guard try node(number).next == expected else { throw .corruption(page: number, detail: "the leaf chain skips or reorders leaves") }
        }
        guard out.keys == meta.count else { throw .corruption(page: 0, detail: "key count \(meta.count), tree holds \(out.keys)") }
        var free = meta.freeHead
        while free != 0 {
            try claim(free)
            let n = try node(free)
            guard n.isFree else { throw .corruption(page: free, detail: "on the free list but not free") }
            out.freePages += 1
            free = n.next
        }
        guard UInt64(seen.count) == meta.nextPage else {
            throw .corruption(page: 0, detail: "\(meta.nextPage - UInt64(seen.count)) pages neither in the tree nor on the free list")
        }
        return out
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
            let next = leaf.next
            leaf = try node(next)
            i = 0
            visited += 1
            guard leaf.isLeaf && !leaf.isFree else { throw .corruption(page: 0, detail: "leaf chain reaches an internal node") }
        }
    }
}

/// Decoded B+tree pages of the newest published tree, kept by writers (under
/// the group leader) so that a put decodes no page it decoded before. Only the key-
/// value store writes its page store, and its writers are serial, so a
/// cached node stays what the page holds until a writer publishes a new
/// one (`publish`); a transaction that fails publishes nothing, and what it
/// decoded is the published state. Bounded: emptied past `nodesMax` pages.
final class NodeCache: @unchecked Sendable {
    // @unchecked: used by the key-value store's group leader only (leaders
    // are serial, WriteGroup.swift).
    static let nodesMax = 1 << 14
    var nodes: [UInt64: Node] = [:]
    var meta: Meta?

    func insert(_ number: UInt64, _ node: Node) {
        if nodes.count >= Self.nodesMax { nodes.removeAll(keepingCapacity: true) }
        nodes[number] = node
    }

    /// A commit with these pages was published.
    func publish(_ dirty: [UInt64: Node], meta: Meta) {
        for (number, node) in dirty { insert(number, node) }
        self.meta = meta
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
    /// Decoded pages of the state the transaction started from.
    let cache: NodeCache

    init(tx: WriteTransaction, pageBytes: Int, cache: NodeCache) {
        self.tx = tx
        self.pageBytes = pageBytes
        self.cache = cache
    }

    mutating func loadMeta() throws(KeyValueError) {
        if let m = cache.meta {
            meta = m
        } else if let m = try Meta.decode(try page(0)) {
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

    mutating func node(_ number: UInt64) throws(KeyValueError) -> Node {
        if let n = dirty[number] { return n }
        if let n = cache.nodes[number] { return n }
        let n = try Node.decode(try page(number), number: number)
        cache.insert(number, n)
        return n
    }

    /// A page for a new node: the head of the free list, else a page never
    /// used. The caller fills it (`dirty`).
    mutating func allocate() throws(KeyValueError) -> UInt64 {
        metaDirty = true
        if meta.freeHead != 0 {
            let number = meta.freeHead
            let free = try node(number)
            guard free.isFree else { throw .corruption(page: number, detail: "the free list holds a page in use") }
            meta.freeHead = free.next
            return number
        }
        let number = meta.nextPage
        guard number < tx.store.pageCountMax else { throw .store(.pageOutOfRange(page: number, pageCountMax: tx.store.pageCountMax)) }
        meta.nextPage += 1
        return number
    }

    /// Puts page `number` (no longer in the tree) on the free list.
    mutating func free(_ number: UInt64) {
        assert(number != 0 && number != meta.root, "the meta page and the root are never freed")
        dirty[number] = .free(next: meta.freeHead)
        meta.freeHead = number
        metaDirty = true
    }

    /// A non-root node below this many encoded bytes merges with or borrows
    /// from a sibling.
    var underfullBytes: Int { pageBytes / 4 }

    /// The root-to-leaf path for `key`: (page, child index taken; 0 at the leaf).
    mutating func path(to key: [UInt8]) throws(KeyValueError) -> [(number: UInt64, child: Int)] {
        var out: [(UInt64, Int)] = []
        var number = meta.root
        while true {
            let n = try node(number)
            if n.isFree { throw .corruption(page: number, detail: "a free page in the tree") }
            if n.isLeaf {
                out.append((number, 0))
                return out
            }
            let c = n.childIndex(for: key)
            out.append((number, c))
            number = n.children[c]
            guard out.count < 64 else { throw .corruption(page: number, detail: "tree deeper than 64 levels") }
        }
    }

    /// Node `number`, taken out of `dirty` and the cache so that this copy
    /// is the only one and changes to it copy no array. The caller puts it
    /// back into `dirty`; the cache gets it again at publish (a transaction
    /// that fails leaves it out: it is decoded again when next needed).
    mutating func take(_ number: UInt64) throws(KeyValueError) -> Node {
        if let n = dirty.removeValue(forKey: number) { return n }
        if let n = cache.nodes.removeValue(forKey: number) { return n }
        return try Node.decode(try page(number), number: number)
    }

    mutating func put(_ key: [UInt8], _ value: [UInt8]) throws(KeyValueError) {
        let path = try path(to: key)
        guard let number = path.last?.number else { preconditionFailure("a path ends at a leaf") }
        var leaf = try take(number)
        let (i, found) = leaf.search(key)
        if found {
            leaf.values[i] = value
        } else {
            leaf.keys.insert(key, at: i)
            leaf.values.insert(value, at: i)
            meta.count += 1
            metaDirty = true
        }
        dirty[number] = leaf
        try rebalance(path)
    }

    mutating func delete(_ key: [UInt8]) throws(KeyValueError) -> Bool {
        let path = try path(to: key)
        guard let number = path.last?.number else { preconditionFailure("a path ends at a leaf") }
        let (i, found) = try node(number).search(key)
        guard found else { return false }
        var leaf = try take(number)
        leaf.keys.remove(at: i)
        leaf.values.remove(at: i)
        dirty[number] = leaf
        meta.count -= 1
        metaDirty = true
        try rebalance(path)
        return true
    }

    /// Restores the node-size rules along `path` (root first: each page and
    /// the child index taken from it) after its last node changed,
    /// bottom-up. At each level: a node over a page splits (its parent
    /// gains an entry); a non-root node under `underfullBytes` merges with
    /// a sibling when the two fit in a page, else the two share their
    /// entries evenly (the parent loses or changes an entry); an internal
    /// root with one child gives way to it. Stops at the first level left
    /// as it was.
    mutating func rebalance(_ path: [(number: UInt64, child: Int)]) throws(KeyValueError) {
        var level = path.count - 1
        while level >= 0 {
            let number = path[level].number
            var node = try node(number)
            if node.encodedBytes > pageBytes {
                let (right, separator) = node.split()
                assert(node.encodedBytes <= pageBytes && right.encodedBytes <= pageBytes, "a split leaves both halves within a page")
                let rightNumber = try allocate()
                if node.isLeaf { node.next = rightNumber }
                dirty[number] = node
                dirty[rightNumber] = right
                if level == 0 {
                    let rootNumber = try allocate()
                    var root = Node(isLeaf: false)
                    root.keys = [separator]
                    root.children = [number, rightNumber]
                    dirty[rootNumber] = root
                    meta.root = rootNumber
                    metaDirty = true
                    return
                }
                let (parentNumber, child) = path[level - 1]
                var parent = try self.node(parentNumber)
                parent.keys.insert(separator, at: child)
                parent.children.insert(rightNumber, at: child + 1)
                dirty[parentNumber] = parent
            } else if level == 0 {
                if !node.isLeaf && node.keys.isEmpty {
                    assert(node.children.count == 1)
                    meta.root = node.children[0]
                    metaDirty = true
                    free(number)
                }
                return
            } else if node.encodedBytes < underfullBytes {
                let (parentNumber, child) = path[level - 1]
                var parent = try self.node(parentNumber)
                guard parent.children.count >= 2 else { throw .corruption(page: parentNumber, detail: "an internal node with one child below the root") }
                try mergeOrShare(parent: &parent, left: child > 0 ? child - 1 : child)
                dirty[parentNumber] = parent
            } else {
                return
            }
            level -= 1
        }
    }

    /// Merges children `left` and `left + 1` of `parent` into the left one
    /// (freeing the right one) when they fit in a page, else splits their
    /// entries evenly by bytes between them.
    mutating func mergeOrShare(parent: inout Node, left: Int) throws(KeyValueError) {
        let leftNumber = parent.children[left]
        let rightNumber = parent.children[left + 1]
        let l = try node(leftNumber)
        let r = try node(rightNumber)
        guard l.isLeaf == r.isLeaf else { throw .corruption(page: rightNumber, detail: "siblings on different levels") }
        var combined = l
        if l.isLeaf {
            combined.keys += r.keys
            combined.values += r.values
            combined.next = r.next
        } else {
            combined.keys.append(parent.keys[left])
            combined.keys += r.keys
            combined.children += r.children
        }
        if combined.encodedBytes <= pageBytes {
            dirty[leftNumber] = combined
            free(rightNumber)
            parent.keys.remove(at: left)
            parent.children.remove(at: left + 1)
            return
        }
        // Both were within a page and one is under a quarter page: each half
        // of an even split fits.
        let (newRight, separator) = combined.split()
        assert(combined.encodedBytes <= pageBytes && newRight.encodedBytes <= pageBytes, "an even split of two nodes fits")
        if combined.isLeaf { combined.next = rightNumber }
        dirty[leftNumber] = combined
        dirty[rightNumber] = newRight
        parent.keys[left] = separator
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
