@_spi(Testing) public import PageStore

// A key-value store on the page store: a B+tree of pages (BTree/), every
// write a page-store transaction, the journal its commit log.
//
// Concurrency: writers queue their batches; one leader at a time takes the
// queued batches, applies them to the tree in one write transaction (a
// write group, WriteGroups/WriteGroup.swift) and queues its commit
// (`commitLazy`: LSN assigned, visible to the next group), then hands the
// leadership on; every writer waits for durability on its own. So 64 concurrent `put`s make a
// few transactions while the disk writes the previous ones, and the journal
// group-commits those: one durable write for many puts. Leaders are serial,
// so write transactions never conflict.
// Readers take no lock: each read is a page-store read transaction at the
// newest durable commit (snapshot isolation), so a `get` after a `put`
// returned sees it.
//
// This file holds the store's state, open and close; writing
// (KeyValueStore+Writing.swift), reading (+Reading) and the write groups
// that leaders apply (WriteGroups/) have their own files.

/// A durable, ordered key-value store.
///
/// Thread safety: every method may be called from any thread.
/// Durability: `put`, `delete` and `write` return once the change is on
/// stable storage; `writeLazy` returns before (see its contract). After a
/// crash the store holds a prefix of the committed batches, every
/// acknowledged one included. A failed journal write poisons the store:
/// writes fail until it is reopened.
public final class KeyValueStore: @unchecked Sendable {
    /// The page store under the tree. Not public: a page written beside
    /// the tree would corrupt it and the writers' node cache (callers read
    /// `statistics` and `recoveryReport` instead).
    let pageStore: PageStore
    /// The page size of the store, fixed at creation.
    public let pageBytes: Int
    /// The longest key accepted, in bytes (256).
    public let keyBytesMax: Int
    /// The most bytes of key plus value in one entry: a quarter of a page,
    /// less the node's overhead.
    public let entryBytesMax: Int
    /// Writers queue their batches here; one leader at a time applies them
    /// (WriteGroups/WriteGroup.swift), so write transactions are serial.
    let queue = WriteGroupQueue(inFlightMax: 2)
    /// Tests: called by each leader before it takes its group.
    var beforeGroupHook: (@Sendable () -> Void)?
    /// Tests: requests queued and not yet taken by a leader.
    var queuedRequestCount: Int { queue.queuedCount }
    /// Write-group counters (`writeGroupStatistics`); written by leaders.
    let groupCounters = GroupCounters()
    /// The decoded nodes of the newest published tree, so writers decode a
    /// page once, not on every put. Used by the group leader only.
    let nodeCache = NodeCache()

    /// Creates an empty store at `location` (see `PageStore.create`). Durable
    /// when it returns; the tree's first page is written by the first write.
    ///
    /// - Throws: `KeyValueError.store` wrapping the page store's error
    ///   (`.alreadyExists`, `.invalidArgument`, `.locked`, `.io`).
    public static func create(location: PageStoreLocation, configuration: PageStoreConfiguration = PageStoreConfiguration()) throws(KeyValueError) {
        do { try PageStore.create(location: location, configuration: configuration) } catch { throw .store(error) }
    }

    /// Opens (and recovers) the store at `location`: every batch that was
    /// durable is there, nothing after the first one that was not. Blocks
    /// the calling thread for the page store's recovery.
    ///
    /// - Throws: `KeyValueError.store` wrapping the page store's error.
    /// - Complexity: that of `PageStore.open`.
    public static func open(location: PageStoreLocation, options: PageStoreOptions = PageStoreOptions()) throws(KeyValueError) -> KeyValueStore {
        let store: PageStore
        do { store = try PageStore.open(location: location, options: options) } catch { throw .store(error) }
        return KeyValueStore(pageStore: store)
    }

    /// A key-value store over an open page store, which it then owns (no
    /// one else may write it).
    init(pageStore: PageStore) {
        self.pageStore = pageStore
        self.pageBytes = pageStore.pageBytes
        self.entryBytesMax = (pageStore.pageBytes - Node.headerBytes) / 4 - 4
        self.keyBytesMax = min(256, entryBytesMax)
    }

    /// Closes the page store under the tree (see `PageStore.close()`):
    /// blocks until what the journal holds is written and the maintenance
    /// thread stops, then releases the lock. Idempotent; later calls fail
    /// with `KeyValueError.store(.closed)`. Call it once the writers are done.
    public func close() { pageStore.close() }

    /// Transactions committed by write groups and the batches they held
    /// since the store opened: batches per transaction is the mean group size.
    /// Lock-free; the two counts are read one after the other.
    public var writeGroupStatistics: (transactions: Int, batches: Int) {
        (groupCounters.transactions.load(ordering: .relaxed), groupCounters.batches.load(ordering: .relaxed))
    }

    /// The figures of the store and its write groups now (see
    /// `PageStore.statistics`).
    public var statistics: KeyValueStoreStatistics {
        KeyValueStoreStatistics(
            pageStore: pageStore.statistics, writeGroupTransactions: groupCounters.transactions.load(ordering: .relaxed),
            writeGroupBatches: groupCounters.batches.load(ordering: .relaxed))
    }

    /// Recovery's account of the open (see `PageStore.recoveryReport`).
    public var recoveryReport: PageStoreRecoveryReport { pageStore.recoveryReport }

    /// Manual runtime: makes the journal progress (see `PageStore.pump()`).
    /// For deterministic tests and simulation only.
    @_spi(Testing) public func pump() throws(KeyValueError) {
        do { try pageStore.pump() } catch { throw .store(error) }
    }

    /// Writes a checkpoint of the page store (see `PageStore.checkpoint`):
    /// returns once the snapshot is durable; writers go on meanwhile.
    /// Checkpoints also run on their own (`PageStoreOptions`).
    ///
    /// - Throws: `KeyValueError.store` wrapping the page store's error.
    @discardableResult
    public func checkpoint() throws(KeyValueError) -> CheckpointReport {
        do { return try pageStore.checkpoint() } catch { throw .store(error) }
    }
}
