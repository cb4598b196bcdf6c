@_spi(Testing) public import Journal
import JournalPrimitives
import JournalStorage
import Logging
import PagedFile

#if canImport(Glibc)
import Glibc
#endif

// # The page store
//
// Pages of fixed size, written by transactions whose commit record goes to
// the journal, read through a page translation table, kept in a RAM data
// file, and saved by checkpoints. Normative formats: Docs/page-store.md.
//
// This file holds the store's state, open and close; each concern has its
// own file beside it: creation (PageStore+Creation.swift), recovery
// (+Recovery), transactions and commit (+Commit), apply (+Apply),
// checkpoints (+Checkpoint) and automatic maintenance (+Maintenance).
//
// ## State (guarded by `table`)
//
//   versions[p]     committed versions of page p still in the journal
//                   (the page translation table, PageTable.swift),
//                   oldest first: (LSN, offset of the image in the record,
//                   an in-memory copy: always while the record is not yet
//                   durable, after that while the copies fit in
//                   tableImageBytesMax)
//   publishedLSN    the newest commit in the table (durable or not)
//   appliedLSN      the data file holds every page's newest version at or
//                   below this LSN, and nothing newer
//   snapshotRefs    LSNs of open transactions, with counts
//
// Invariants:
//   S1 every version in the table has an LSN above appliedLSN;
//   S2 for page p, the newest committed version at LSN L (appliedLSN <= L
//      <= publishedLSN) is the newest version in versions[p] at or below L,
//      or, if there is none, the data file's page p;
//   S3 a version without an in-memory copy has LSN <= the journal's durable
//      LSN, so it can be read through the journal's mapping.
//
// ## Commit (serialized by `commitLock`)
//
//   C1 conflict check: a write transaction that began at LSN S fails if a
//      page it writes has a version above S (optimistic concurrency);
//   C2 journal.enqueue(record): the LSN order is the commit order;
//   C3 publish: add the versions (with in-memory copies), publishedLSN = LSN;
//   C4 outside the lock: wait for durability (unless lazy); copies of
//      durable versions past the image budget are dropped (S3) at the next
//      publish or apply.
//
// ## Snapshots
//
// A read transaction reads at L = min(publishedLSN, durableLSN): it sees
// exactly the durable commits at or below L, however many follow. A write
// transaction reads at L = publishedLSN plus its own writes.
//
// ## Apply (serialized by `applyLock`)
//
//   A1 horizon H = min(open snapshot LSNs, durable LSN, publishedLSN);
//   A2 for each page, copy its newest version at or below H into the data
//      file (no reader needs an older one: every reader reads at >= H);
//   A3 drop that version and every older one; appliedLSN = H.
//
// A reader that looked a version up before A3 and reads the journal after a
// checkpoint truncated it retries its lookup (the page is then in the data
// file, identical).

/// Pages written by transactions whose commit records go to a journal; a
/// page cache over the journal and a RAM data file; checkpoints.
///
/// Thread safety: every method may be called from any thread. Transactions
/// belong to the thread that uses them.
/// Durability: `WriteTransaction.commit()` returns once the commit is on
/// stable storage; `commitLazy()` before (see its contract). A failed
/// journal write poisons the store: commits and checkpoints fail until it
/// is reopened.
public final class PageStore: @unchecked Sendable {
    // @unchecked: mutable state lives behind `table` and the other mutexes.

    /// Where the store's files and its journal live.
    public let location: PageStoreLocation
    /// Bytes per page, fixed at creation.
    public let pageBytes: Int
    /// Page numbers run from 0 below this, fixed at creation.
    public let pageCountMax: UInt64
    /// The options the store was opened with.
    public let options: PageStoreOptions
    /// The store's journal: its commit log. Not public: a record appended
    /// or a truncation behind the store's back would break S1-S3 (callers
    /// read `statistics` instead).
    let journal: Journal
    /// What recovery found when the store opened.
    public let recoveryReport: PageStoreRecoveryReport
    let storeID: UInt64
    let dataFile: PagedFile
    let logger: Logger
    private var storeLock: (any StorageLock)?

    struct TableState {
        var pages: PageTable
        var publishedLSN: LSN
        var appliedLSN: LSN
        var snapshotRefs: [LSN: Int] = [:]
        var nextTxID: UInt64
        /// Highest page number written plus one.
        var pageCount: UInt64
        var closed = false
        /// Bytes of transaction records committed since the store opened.
        var committedBytes = 0
        /// `committedBytes` when the last checkpoint began (or at open).
        var checkpointBaseBytes = 0
        /// A journal write failed: commits and checkpoints are refused until
        /// the store is reopened.
        var poison: JournalError?
    }

    struct SlotState {
        /// The slot of the snapshot recovery loaded or the last checkpoint wrote.
        var current: (slot: Int, header: SnapshotHeader)?
        /// The one before it, kept for fallback.
        var previous: (slot: Int, header: SnapshotHeader)?
    }

    /// Counters and the last failure of checkpoints and automatic maintenance.
    struct MaintenanceState {
        var checkpoints = 0
        var automaticCheckpoints = 0
        var lastError: PageStoreError?
    }

    let table: LockedValue<TableState>
    let commitLock = ConditionLock()
    let applyLock = ConditionLock()
    let slots: LockedValue<SlotState>
    private let closeLock = LockedValue<Bool>(false)
    /// The maintenance thread (`.threads` runtime only; PageStore+Maintenance.swift).
    private(set) var maintenanceThread: MaintenanceThread?
    let maintenanceState = LockedValue(MaintenanceState())

    // MARK: Opening

    /// Opens a store: takes its lock, opens the journal (which recovers its
    /// own torn tail), loads the newest valid snapshot into a fresh data
    /// file and replays the journal after it.
    ///
    /// On return every commit that was durable before the crash or close is
    /// visible, and nothing else. Blocks the calling thread for recovery.
    /// With the `.threads` journal runtime (the default) it starts a
    /// maintenance thread that applies and checkpoints in the background.
    ///
    /// - Throws: `PageStoreError.locked` if another process or object holds
    ///   the store, `.notAStore`, `.newerFormat`, `.corruption`,
    ///   `.journalDoesNotCoverSnapshot`, `.journal` for the journal's own
    ///   failures, `.io`, `.dataFile` when the data file's pool is too small.
    /// - Complexity: O(snapshot bytes + journal bytes since it).
    public static func open(location: PageStoreLocation, options: PageStoreOptions = PageStoreOptions()) throws(PageStoreError) -> PageStore {
        let start = monotonicNanos()
        let hold: (any StorageLock)?
        do { hold = location.sharesDirectory ? nil : try location.root.lockExclusive() } catch { throw PageStoreError.from(error) }
        do throws(PageStoreError) {
            if case .incomplete = try creationState(location) {
                throw .notAStore(path: location.root.path, reason: "an interrupted create left no \(StoreMetadata.fileName); create the store again")
            }
            let meta = try StoreMetadata.read(from: location.root)
            let journal: Journal
            do { journal = try Journal.open(storage: location.journal, options: options.journal) } catch { throw PageStoreError.from(error) }
            do throws(PageStoreError) {
                let store = try PageStore(location: location, meta: meta, journal: journal, options: options, start: start)
                store.storeLock = hold
                return store
            } catch {
                journal.close()
                throw error
            }
        } catch {
            hold?.unlock()
            throw error
        }
    }

    private init(location: PageStoreLocation, meta: StoreMetadata, journal: Journal, options: PageStoreOptions, start: UInt64) throws(PageStoreError) {
        self.location = location
        self.pageBytes = meta.pageBytes
        self.pageCountMax = meta.pageCountMax
        self.options = options
        self.journal = journal
        self.storeID = meta.storeID
        self.logger = options.logger
        let recovered = try Self.recover(location: location, meta: meta, journal: journal, options: options, start: start)
        self.dataFile = recovered.dataFile
        self.recoveryReport = recovered.report
        let published = journal.durableLSN
        self.table = LockedValue(TableState(
            pages: PageTable(pageBytes: meta.pageBytes), publishedLSN: published, appliedLSN: published,
            nextTxID: recovered.lastTxID + 1, pageCount: recovered.pageCount))
        self.slots = LockedValue(SlotState(current: recovered.snapshot, previous: nil))
        logger.info("page store recovered", metadata: ["report": "\(recovered.report)"])
        if options.journal.runtime == .threads {
            // unowned(unsafe): `close()`, which `deinit` calls, joins the
            // thread before the store's memory goes; a strong reference would
            // keep the store alive forever.
            maintenanceThread = MaintenanceThread { [unowned(unsafe) self] in self.maintain(urgent: false) }
        }
    }

    deinit { close() }

    // MARK: State

    /// The newest commit published (visible to write transactions; durable
    /// or on its way). Takes the table lock briefly.
    public var publishedLSN: LSN { table.withLock { $0.publishedLSN } }
    /// The newest commit on stable storage: read transactions begun now see
    /// exactly the commits at or below it. Never decreases.
    public var durableLSN: LSN { min(journal.durableLSN, publishedLSN) }
    /// The data file holds every commit at or below this LSN. Takes the
    /// table lock briefly.
    public var appliedLSN: LSN { table.withLock { $0.appliedLSN } }
    /// The most pages one transaction may write: its record must fit in
    /// the journal's largest record.
    public var transactionPagesMax: Int {
        TransactionRecord.pagesMax(recordBytesMax: journal.configuration.recordBytesMax, pageBytes: pageBytes)
    }
    /// The last failure of automatic maintenance (apply or checkpoint), if any.
    public var lastMaintenanceError: PageStoreError? { maintenanceState.withLock { $0.lastError } }

    // MARK: Closing

    /// Closes the journal (everything enqueued is written) and the data
    /// file, and releases the lock. Idempotent. Open transactions fail from
    /// then on.
    ///
    /// Blocks the calling thread until a checkpoint in progress finishes,
    /// the maintenance thread stops and the journal has written everything
    /// enqueued: lazy commits are then durable unless a write failed.
    /// Thread-safe; runs on deinit if not called.
    public func close() {
        let first = closeLock.withLock { closed -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        // Before anything closes: a checkpoint in progress finishes.
        maintenanceThread?.stop()
        table.withLock { $0.closed = true }
        journal.close()
        dataFile.close()
        storeLock?.unlock()
        storeLock = nil
    }
}
