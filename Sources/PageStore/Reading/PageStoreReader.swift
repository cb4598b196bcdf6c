public import Journal
import JournalPrimitives
import JournalStorage
import PagedFile

// A read-only open of a page store, beside a writer that may run in another
// process (Docs/page-store.md, "Readers beside a writer"). The reader never
// writes the store's files and takes no lock a writer takes: it loads the
// newest complete snapshot into a private data file, applies the journal's
// transaction records after it up to a durable LSN, and serves reads from
// that copy. `refresh()` applies what became durable since; when the
// writer's truncation has overtaken the reader, it rebuilds from the newer
// snapshot. Building and refreshing are in PageStoreReader+Building.swift,
// the stream of refreshes in PageStoreReader+Updates.swift.

/// How a read-only open reaches the journal.
public enum PageStoreJournalAccess: Sendable, Equatable {
    /// Follow the writer through the journal's follow file
    /// (`Journal.openForFollowing`): the durable LSN is the one the writer
    /// publishes, and `updates()` wakes as commits become durable. Needs a
    /// file system with shared memory support.
    case follow
    /// Open the journal read-only at the open and again at each refresh
    /// (`Journal.openForReading`): the log recovery finds is taken as
    /// durable. For storage without a follow file (the simulated disk, a
    /// file system without shared memory) or a store no writer runs on;
    /// `updates()` then polls (`PageStoreReadOptions.reopenPollMilliseconds`).
    case reopen
}

/// Options of `PageStore.openReadOnly`.
public struct PageStoreReadOptions: Sendable {
    /// How the journal is read; `.follow` by default.
    public var journalAccess: PageStoreJournalAccess = .follow
    /// Tries of one build (open, or a refresh that must start from a
    /// snapshot again) before it fails with `readerOvertaken`: a try is
    /// lost only when a checkpoint or truncation lands in the middle of it.
    public var attemptsMax = 64
    /// With `.reopen`, the interval of `updates()`'s refreshes: nothing can
    /// wake such a reader when the writer commits, so it polls. Each poll
    /// opens the journal again (a recovery scan of its segments), so keep
    /// it well above the time that takes. Default 100 ms.
    public var reopenPollMilliseconds = 100
    /// Pages of the private copy's pool and the logger (`dataPoolPageBytes`,
    /// `logger`); the other fields are the writer's and are ignored.
    public var store = PageStoreOptions()

    public init() {}
}

/// What a reader has done since it opened.
public struct PageStoreReaderStatistics: Sendable, Equatable {
    /// Snapshots loaded: one at the open, one per rebuild.
    public var snapshotLoads = 0
    /// Tries lost to the writer (a slot rewritten under the read, the
    /// journal truncated past the reader's position) and tried again.
    public var retries = 0
    /// Transaction records applied from the journal.
    public var appliedTransactions = 0
    /// Why the last try was lost, if one was.
    public var lastRetryReason: String?
}

extension PageStore {
    /// Opens the store at `location` read-only, beside a writer in this or
    /// another process, or with none.
    ///
    /// Consistency: the reader shows the state after exactly the committed
    /// transactions at or below its `lsn`, which is durable (a crash of
    /// the writer keeps it), and nothing else: a snapshot slot rewritten
    /// while it is read, or journal records released while they are
    /// replayed, are detected and the read is tried again, never shown.
    /// `refresh()` moves `lsn` forward; it never goes back.
    ///
    /// Writes nothing of the store (its data, snapshot slots, journal or
    /// lock); `.follow` maps the journal's follow file, creating it if no
    /// writer did yet. Blocks the caller for the snapshot load and replay.
    ///
    /// - Throws: `notAStore`, `newerFormat`, `corruption` (a damaged slot
    ///   with no alternative the journal covers), `journalDoesNotCoverSnapshot`,
    ///   `readerOvertaken` (the writer outran every try), `journal` errors
    ///   of `Journal.openForFollowing` or of the records (a journal error
    ///   that persists over every try), `io`.
    /// - Complexity: O(snapshot pages + journal records after it).
    public static func openReadOnly(location: PageStoreLocation, options: PageStoreReadOptions = PageStoreReadOptions()) throws(PageStoreError) -> PageStoreReader {
        if case .incomplete = try creationState(location) {
            throw .notAStore(path: location.root.path, reason: "an interrupted create left no \(StoreMetadata.fileName)")
        }
        let meta = try StoreMetadata.read(from: location.root)
        let journal = try PageStoreReader.openJournal(location.journal, access: options.journalAccess)
        do throws(PageStoreError) {
            return try PageStoreReader(location: location, meta: meta, journal: journal, options: options)
        } catch {
            journal.close()
            throw error
        }
    }
}

/// A read-only view of a page store at a durable LSN (see
/// `PageStore.openReadOnly`).
///
/// Thread safety: every method may be called from any thread; reads wait
/// for a refresh in progress and a refresh for reads in progress, so each
/// `withSnapshot` sees one LSN throughout.
public final class PageStoreReader: @unchecked Sendable {
    // @unchecked: `journal`, `view` and `closed` are guarded by `lock`.
    /// Where the store lives.
    public let location: PageStoreLocation
    /// The store's page size.
    public let pageBytes: Int
    /// The store's page limit.
    public let pageCountMax: UInt64
    /// The options it was opened with.
    public let options: PageStoreReadOptions
    let meta: StoreMetadata
    let lock = ConditionLock()
    var journal: Journal
    var view: View
    var closed = false
    let counters: LockedValue<PageStoreReaderStatistics>

    /// The private copy and the LSN it holds.
    struct View {
        var file: PagedFile
        /// Every commit at or below it is applied, none above.
        var lsn: LSN
        /// The snapshot the copy was built from (0: none).
        var snapshotLSN: LSN
    }

    init(location: PageStoreLocation, meta: StoreMetadata, journal: Journal, options: PageStoreReadOptions) throws(PageStoreError) {
        self.location = location
        self.pageBytes = meta.pageBytes
        self.pageCountMax = meta.pageCountMax
        self.options = options
        self.meta = meta
        self.journal = journal
        let counters = LockedValue(PageStoreReaderStatistics())
        self.counters = counters
        self.view = try Self.build(location: location, meta: meta, journal: journal, options: options, counters: counters)
    }

    deinit { close() }

    /// The LSN the reader reflects: every commit at or below it, none above.
    public var lsn: LSN { lock.withLock { view.lsn } }

    /// The LSN of the snapshot the reader's copy was last built from (0:
    /// none; the store had no checkpoint the journal needed).
    public var snapshotLSN: LSN { lock.withLock { view.snapshotLSN } }

    /// The counters since the open.
    public var statistics: PageStoreReaderStatistics { counters.withLock { $0 } }

    /// Runs `body` with the reader's state at one LSN: no refresh runs
    /// until it returns. The snapshot is valid only inside `body`.
    ///
    /// - Throws: what `body` throws.
    public func withSnapshot<R, E: Error>(_ body: (PageStoreSnapshot) throws(E) -> R) throws(E) -> R {
        try lock.withLock { () throws(E) -> R in
            try body(PageStoreSnapshot(file: closed ? nil : view.file, lsn: view.lsn, pageBytes: pageBytes, pageCountMax: pageCountMax))
        }
    }

    /// Page `page` at `lsn`, copied.
    ///
    /// - Throws: `pageOutOfRange`, `closed`.
    public func read(page: UInt64) throws(PageStoreError) -> [UInt8] {
        try withSnapshot { (s: PageStoreSnapshot) throws(PageStoreError) -> [UInt8] in try s.read(page: page) }
    }

    /// Closes the journal and frees the copy. Idempotent; reads and
    /// refreshes then fail with `closed`.
    public func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            journal.close()
            view.file.close()
        }
    }

    /// The journal the reader reads now; nil once it closed.
    var currentJournal: Journal? {
        lock.withLock { closed ? nil : journal }
    }

    static func openJournal(_ storage: any StorageDirectory, access: PageStoreJournalAccess) throws(PageStoreError) -> Journal {
        do {
            switch access {
            case .follow: return try Journal.openForFollowing(storage: storage, recovery: .tolerateTornTail)
            case .reopen: return try Journal.openForReading(storage: storage, recovery: .tolerateTornTail)
            }
        } catch {
            throw PageStoreError.journal(error)
        }
    }
}

/// A page store's state at one LSN, as a reader holds it; valid only inside
/// the `withSnapshot` call that passed it.
public struct PageStoreSnapshot {
    let file: PagedFile?
    /// Every commit at or below it, none above.
    public let lsn: LSN
    let pageBytes: Int
    let pageCountMax: UInt64

    /// Reads page `page` into `buffer` (at least a page): zeros for a page
    /// never written.
    ///
    /// - Throws: `pageOutOfRange`, `closed`, `dataFile`.
    public func read(page: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(PageStoreError) {
        guard let file else { throw .closed }
        guard page < pageCountMax else { throw .pageOutOfRange(page: page, pageCountMax: pageCountMax) }
        guard buffer.count >= pageBytes else { throw .wrongPageSize(bytes: buffer.count, pageBytes: pageBytes) }
        let target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<pageBytes])
        let count: Int
        do { count = try file.read(at: Int(page) * pageBytes, into: target) } catch { throw .dataFile(error) }
        if count < pageBytes {
            UnsafeMutableRawBufferPointer(rebasing: target[count...]).initializeMemory(as: UInt8.self, repeating: 0)
        }
    }

    /// Page `page`, copied.
    ///
    /// - Throws: as `read(page:into:)`.
    public func read(page: UInt64) throws(PageStoreError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: pageBytes)
        let done = out.withUnsafeMutableBytes { b in Result { () throws(PageStoreError) in try read(page: page, into: b) } }
        try done.get()
        return out
    }
}
