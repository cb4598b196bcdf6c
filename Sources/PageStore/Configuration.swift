public import Journal
import JournalPrimitives
public import JournalFileStorage
public import JournalStorage
public import Logging

/// Parameters fixed when a store is created (kept in `store.meta` and the
/// journal's metadata).
public struct PageStoreConfiguration: Sendable, Equatable {
    /// Bytes per page: a power of two from 4 KiB to 64 KiB, a multiple of
    /// the storage's I/O alignment. Default 4 KiB.
    public var pageBytes: Int = 4096
    /// Page numbers run from 0 below this. Also the RAM the data file may
    /// use at most. Default 2^18 (1 GiB of 4 KiB pages).
    public var pageCountMax: UInt64 = 1 << 18
    /// The journal's parameters. `recordBytesMax` bounds a transaction: a
    /// record holds 28 bytes plus 8 bytes and one page image per page.
    public var journal = JournalConfiguration()

    /// The defaults: 4 KiB pages, 2^18 of them, the journal's defaults.
    public init() {}

    /// The most pages one transaction may write with this configuration.
    public var transactionPagesMax: Int {
        TransactionRecord.pagesMax(recordBytesMax: journal.recordBytesMax, pageBytes: pageBytes)
    }
}

/// What a checkpoint keeps of the journal.
public enum JournalRetention: Sendable, Equatable {
    /// Truncate before the previous snapshot's LSN: if the newest snapshot
    /// is found corrupt at recovery, the older one plus the journal still
    /// give every commit. The default.
    case previousSnapshot
    /// Truncate before the newest snapshot's LSN: the least journal, but a
    /// corrupt newest snapshot is then an error at recovery.
    case newestSnapshot
}

/// Options of one open store (not stored on disk).
public struct PageStoreOptions: Sendable {
    /// The journal's options: runtime (`.threads`, or `.manual` with
    /// `pump()` for deterministic simulation), batching, recovery mode.
    public var journal = JournalOptions()
    /// Page versions kept in the page translation table (pages whose newest
    /// committed images are read from the journal) before commits apply
    /// them to the data file. Readers holding old snapshots can keep the
    /// table above it until they end.
    public var applyThresholdVersions: Int = 4096
    /// Bytes of page images the table keeps in memory. A version keeps the
    /// image its commit wrote until it is applied, unless the images exceed
    /// this: then the oldest durable versions drop theirs and are read
    /// through the journal's read-only mapping (which verifies the record's
    /// checksums on every read). 0: every durable version is read through
    /// the journal.
    public var tableImageBytesMax: Int = 32 << 20
    /// Bytes of transaction records committed since the last checkpoint
    /// began past which a checkpoint runs by itself (see `PageStore+Maintenance.swift`):
    /// with `.previousSnapshot` retention the journal then holds about twice
    /// this, plus whole segments. `nil`: only explicit `checkpoint()` calls
    /// (the journal grows until one).
    public var checkpointThresholdJournalBytes: Int? = 256 << 20
    /// When committers outrun the maintenance thread by this many times a
    /// threshold, the committer that notices applies or checkpoints itself:
    /// the hard bound on the table and the journal.
    public var maintenanceBackpressureFactor: Int = 4
    /// Journal a written page as the byte ranges changed since its previous
    /// version when they are at most half a page (a B+tree insert changes a
    /// few hundred bytes of a leaf), else as its whole image. A delta's
    /// version keeps its in-memory copy until it is applied. false: whole
    /// images only (the records a store wrote before deltas existed, in the
    /// newer format).
    public var journalPageDeltas = true
    /// What a checkpoint keeps of the journal.
    public var journalRetention: JournalRetention = .previousSnapshot
    /// The data file's pool page size (a power of two from 4 KiB to 2 MiB).
    public var dataPoolPageBytes: Int = 64 << 10
    /// Where the store logs recovery, checkpoints and maintenance failures.
    public var logger = Logger(label: "swift-journal.page-store")

    /// The defaults documented on each option.
    public init() {}
}

/// Where a store lives: its own files (`store.meta`, snapshot slots) and its
/// journal's directory.
public struct PageStoreLocation: Sendable {
    /// The directory of `store.meta` and the snapshot slots.
    public let root: any StorageDirectory
    /// The journal's directory.
    public let journal: any StorageDirectory

    /// Two directories. The store takes `root`'s lock, the journal its own.
    public init(root: any StorageDirectory, journal: any StorageDirectory) {
        self.root = root
        self.journal = journal
    }

    /// One directory for everything (the simulated disk has one): the
    /// journal's writer lock is then the store's lock. The store's file
    /// names never collide with the journal's.
    public init(sharing storage: any StorageDirectory) {
        self.root = storage
        self.journal = storage
    }

    var sharesDirectory: Bool { root === journal }

    /// The layout on a real file system: `path/` holds the store's files,
    /// `path/journal/` the journal. With `create`, both directories are
    /// made when missing (not their parents). `options.ioBackend` chooses how
    /// the journal's and the snapshots' durable writes reach the disk
    /// (`JournalIOBackend`; `.automatic` by default).
    ///
    /// - Throws: `PageStoreError.notAStore` if `path` does not exist and
    ///   `create` is false, `.io` for other failures.
    public static func directory(path: String, options: FileSystemStorage.Options = .init(), create: Bool = false) throws(PageStoreError) -> PageStoreLocation {
        var opts = options
        opts.createDirectory = create
        do {
            let root = try FileSystemStorage(path: path, options: opts)
            let journal = try FileSystemStorage(path: path + "/journal", options: opts)
            return PageStoreLocation(root: root, journal: journal)
        } catch {
            if error.errno == .noSuchFileOrDirectory { throw .notAStore(path: path, reason: "no such directory") }
            throw PageStoreError.from(error)
        }
    }
}
