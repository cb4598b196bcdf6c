@_spi(Testing) public import Journal
import JournalStorage
import Logging
import PagedFile
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// # The page store
//
// Pages of fixed size, written by transactions whose commit record goes to
// the journal, read through a page translation table, kept in a RAM data
// file, and saved by checkpoints. Normative formats: Docs/page-store.md.
//
// ## State (guarded by `table`)
//
//   versions[p]     committed versions of page p still in the journal,
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

/// Recovery's account of an open.
public struct PageStoreRecoveryReport: Sendable, Equatable {
    /// The LSN of the snapshot loaded (0: none, the store started empty).
    public var snapshotLSN: LSN = 0
    /// The slot loaded, if any.
    public var snapshotSlot: Int?
    /// Snapshots rejected (slot, reason) before the one loaded.
    public var rejectedSnapshots: [String] = []
    /// Transactions replayed from the journal after the snapshot.
    public var replayedTransactions: Int = 0
    /// The journal's own report (torn tail cut, etc.).
    public var journal: RecoveryReport
    /// Nanoseconds spent in recovery (snapshot load plus replay).
    public var nanoseconds: UInt64 = 0

    init(journal: RecoveryReport) { self.journal = journal }
}

/// The result of a checkpoint.
public struct CheckpointReport: Sendable, Equatable {
    public var lsn: LSN
    public var slot: Int
    public var pageCount: Int
    public var bytesWritten: Int
    public var segmentsReleased: Int
    public var nanoseconds: UInt64
}

/// Pages written by transactions whose commit records go to a journal; a
/// page cache over the journal and a RAM data file; checkpoints.
///
/// Thread safety: every method may be called from any thread. Transactions
/// belong to the thread that uses them.
public final class PageStore: @unchecked Sendable {
    // @unchecked: mutable state lives behind `table` and the other mutexes.

    public let location: PageStoreLocation
    public let pageBytes: Int
    public let pageCountMax: UInt64
    public let options: PageStoreOptions
    /// The store's journal: its commit log.
    public let journal: Journal
    public let recoveryReport: PageStoreRecoveryReport
    let storeID: UInt64
    let dataFile: PagedFile
    let logger: Logger
    private var storeLock: (any StorageLock)?

    struct Version {
        var lsn: LSN
        var offset: Int
        var image: [UInt8]?
    }

    struct TableState {
        var versions: [UInt64: [Version]] = [:]
        var versionCount = 0
        var publishedLSN: LSN
        var appliedLSN: LSN
        var snapshotRefs: [LSN: Int] = [:]
        /// Commits whose versions may still hold in-memory copies, oldest first.
        var pending: [(lsn: LSN, pages: [UInt64])] = []
        /// Bytes of the in-memory copies held by versions.
        var imageBytes = 0
        var pendingHead = 0
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

    let table: Mutex<TableState>
    private let commitLock = Mutex<Void>(())
    private let applyLock = Mutex<Void>(())
    private let slots: Mutex<SlotState>
    private let closeLock = Mutex<Bool>(false)
    /// The maintenance thread (`.threads` runtime only; Maintenance.swift).
    private var maintenanceThread: MaintenanceThread?
    private let maintenanceState = Mutex<(automaticCheckpoints: Int, lastError: PageStoreError?)>((0, nil))

    // MARK: Creating and opening

    /// Creates an empty store: its journal, then `store.meta`, the
    /// completion mark (written under a temporary name and renamed, so it is
    /// absent or whole). A location that holds the leftovers of a create
    /// that was interrupted before `store.meta` (the journal's metadata and
    /// temporary files, no segment, no snapshot) is cleaned and created
    /// afresh: nothing was ever committed there.
    ///
    /// Fails with `alreadyExists` when the location holds a store, or files
    /// of a journal or snapshots without `store.meta` (data this call will
    /// not remove), and with `invalidArgument` for an inconsistent
    /// configuration.
    public static func create(location: PageStoreLocation, configuration: PageStoreConfiguration = PageStoreConfiguration()) throws(PageStoreError) {
        let pageBytes = configuration.pageBytes
        guard pageBytes >= 4096, pageBytes <= 64 << 10, pageBytes.nonzeroBitCount == 1 else {
            throw .invalidArgument("pageBytes must be a power of two from 4 KiB to 64 KiB")
        }
        guard pageBytes % location.root.ioAlignment == 0 else {
            throw .invalidArgument("pageBytes \(pageBytes) is not a multiple of the I/O alignment \(location.root.ioAlignment)")
        }
        guard configuration.pageCountMax >= 1, configuration.pageCountMax <= UInt64(Int.max) / UInt64(pageBytes) / 2 else {
            throw .invalidArgument("pageCountMax out of range")
        }
        guard configuration.transactionPagesMax >= 1 else {
            throw .invalidArgument("the journal's recordBytesMax cannot hold a one-page transaction")
        }
        let hold: (any StorageLock)?
        do { hold = location.sharesDirectory ? nil : try location.root.lockExclusive() } catch { throw PageStoreError.from(error) }
        defer { hold?.unlock() }
        if location.sharesDirectory {
            // The journal takes this directory's lock itself, below.
            let cleaning: any StorageLock
            do { cleaning = try location.root.lockExclusive() } catch { throw PageStoreError.from(error) }
            defer { cleaning.unlock() }
            try removeIncompleteCreation(location)
        } else {
            try removeIncompleteCreation(location)
        }
        do {
            try Journal.create(storage: location.journal, configuration: configuration.journal)
        } catch {
            if case .alreadyExists = error { throw .alreadyExists(path: location.journal.path) }
            throw PageStoreError.from(error)
        }
        var random = SystemRandomNumberGenerator()
        let meta = StoreMetadata(pageBytes: pageBytes, pageCountMax: configuration.pageCountMax, storeID: random.next())
        try meta.write(to: location.root)
    }

    /// What a location holds before `create` (lock held).
    enum CreationState: Equatable {
        case empty
        /// A create stopped before `store.meta`: only these files, removable.
        case incomplete(root: [String], journal: [String])
        case complete
        /// Journal segments or snapshots without `store.meta`: not ours to remove.
        case foreign(String)
    }

    static func creationState(_ location: PageStoreLocation) throws(PageStoreError) -> CreationState {
        let rootNames: [String]
        let journalNames: [String]
        do {
            rootNames = try location.root.fileNames()
            journalNames = location.sharesDirectory ? rootNames : try location.journal.fileNames()
        } catch {
            throw PageStoreError.from(error)
        }
        if rootNames.contains(StoreMetadata.fileName) { return .complete }
        if let name = rootNames.first(where: { SnapshotHeader.slotNames.contains($0) }) { return .foreign(name) }
        if let name = journalNames.first(where: { JournalFormat.segmentIndex(fileName: $0) != nil || $0.hasPrefix(JournalFormat.spareFilePrefix) }) {
            return .foreign(name)
        }
        let journalLeftovers = [JournalFormat.metadataFileName, JournalFormat.metadataFileName + ".new"]
        let root = rootNames.filter { $0 == StoreMetadata.temporaryName }
        let journal = journalNames.filter { journalLeftovers.contains($0) }
        return root.isEmpty && journal.isEmpty ? .empty : .incomplete(root: root, journal: journal)
    }

    private static func removeIncompleteCreation(_ location: PageStoreLocation) throws(PageStoreError) {
        switch try creationState(location) {
        case .empty:
            return
        case .complete:
            throw .alreadyExists(path: location.root.path)
        case .foreign(let name):
            throw .alreadyExists(path: location.root.path + " (holds \(name) but no \(StoreMetadata.fileName))")
        case .incomplete(let root, let journal):
            do {
                for name in root { try location.root.remove(name) }
                for name in journal { try location.journal.remove(name) }
            } catch {
                throw PageStoreError.from(error)
            }
        }
    }

    /// Opens a store: takes its lock, opens the journal (which recovers its
    /// own torn tail), loads the newest valid snapshot into a fresh data
    /// file and replays the journal after it.
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
        let poolBytes = roundUp(Int(meta.pageCountMax) * meta.pageBytes, options.dataPoolPageBytes)
        let io = SnapshotIO(storage: location.root, pageBytes: meta.pageBytes)
        var report = PageStoreRecoveryReport(journal: journal.recoveryReport)

        // The newest valid snapshot the journal covers.
        var candidates: [(slot: Int, header: SnapshotHeader)] = []
        for slot in 0..<SnapshotHeader.slotNames.count {
            switch try io.readHeader(slot: slot) {
            case .valid(let h) where h.storeID == meta.storeID:
                candidates.append((slot, h))
            case .valid:
                report.rejectedSnapshots.append("\(SnapshotHeader.slotNames[slot]): belongs to another store")
            case .invalid(let why):
                if why != "absent" { report.rejectedSnapshots.append("\(SnapshotHeader.slotNames[slot]): \(why)") }
            case .newerVersion(let v):
                throw .newerFormat(file: SnapshotHeader.slotNames[slot], found: v, supported: SnapshotHeader.version)
            }
        }
        candidates.sort { $0.header.sequence > $1.header.sequence }
        let journalFirst = journal.oldestLSN
        let durable = journal.durableLSN
        var loaded: (file: PagedFile, slot: Int, header: SnapshotHeader)?
        var firstFailure: PageStoreError?
        for candidate in candidates {
            let h = candidate.header
            guard h.lsn + 1 >= journalFirst else {
                if let firstFailure {
                    throw .corruption(file: "snapshots", detail: "\(firstFailure); the older snapshot at LSN \(h.lsn) is not covered by the journal (first LSN \(journalFirst))")
                }
                throw .journalDoesNotCoverSnapshot(snapshotLSN: h.lsn, journalFirstLSN: journalFirst)
            }
            guard h.lsn <= durable else {
                throw .corruption(file: SnapshotHeader.slotNames[candidate.slot], detail: "snapshot at LSN \(h.lsn) is ahead of the journal's last record \(durable)")
            }
            let file = try Self.makeDataFile(poolBytes: poolBytes, options: options)
            do throws(PageStoreError) {
                try io.load(slot: candidate.slot, header: h, into: file)
                loaded = (file, candidate.slot, h)
                break
            } catch {
                file.close()
                firstFailure = firstFailure ?? error
                report.rejectedSnapshots.append("\(error)")
                logger.warning("snapshot rejected", metadata: ["slot": "\(candidate.slot)", "error": "\(error)"])
            }
        }
        if loaded == nil {
            if let firstFailure {
                throw .corruption(file: "snapshots", detail: "\(firstFailure), and no older snapshot the journal covers")
            }
            if journalFirst > 1 {
                throw .journalDoesNotCoverSnapshot(snapshotLSN: 0, journalFirstLSN: journalFirst)
            }
        }
        let dataFile: PagedFile
        if let loaded { dataFile = loaded.file } else { dataFile = try Self.makeDataFile(poolBytes: poolBytes, options: options) }
        self.dataFile = dataFile
        let base = loaded?.header.lsn ?? 0
        report.snapshotLSN = base
        report.snapshotSlot = loaded?.slot

        // Replay every transaction after the snapshot.
        var lastTxID = loaded?.header.lastTxID ?? 0
        var pageCount = UInt64((loaded?.header.pageCount ?? 0))
        var replayed = 0
        let pageBytes = meta.pageBytes
        let limit = meta.pageCountMax
        do {
            try journal.forEachRecord(from: base + 1) { lsn, bytes in
                let decoded: TransactionRecord.Decoded
                do throws(TransactionRecord.Problem) {
                    decoded = try TransactionRecord.decode(bytes, pageBytes: pageBytes)
                } catch .newerVersion(let v) {
                    throw PageStoreError.newerFormat(file: "journal record \(lsn)", found: UInt32(v), supported: UInt32(TransactionRecord.version))
                } catch .corrupt(let why) {
                    throw PageStoreError.corruption(file: "journal record \(lsn)", detail: why)
                }
                for (i, number) in decoded.pageNumbers.enumerated() {
                    guard number < limit else { throw PageStoreError.corruption(file: "journal record \(lsn)", detail: "page \(number) beyond the limit") }
                    let at = TransactionRecord.imageOffset(index: i, pageCount: decoded.pageNumbers.count, pageBytes: pageBytes)
                    try dataFile.write(at: Int(number) * pageBytes, from: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + pageBytes)]))
                    pageCount = max(pageCount, number + 1)
                }
                lastTxID = max(lastTxID, decoded.txid)
                replayed += 1
                return true
            }
        } catch {
            dataFile.close()
            switch error {
            case let e as PageStoreError: throw e
            case let e as JournalError: throw PageStoreError.from(e)
            case let e as PagedFileError: throw PageStoreError.dataFile(e)
            default: preconditionFailure("unexpected \(error)")
            }
        }
        report.replayedTransactions = replayed
        report.nanoseconds = monotonicNanos() - start
        self.recoveryReport = report
        let published = journal.durableLSN
        self.table = Mutex(TableState(publishedLSN: published, appliedLSN: published, nextTxID: lastTxID + 1, pageCount: pageCount))
        self.slots = Mutex(SlotState(current: loaded.map { ($0.slot, $0.header) }, previous: nil))
        logger.info("page store recovered", metadata: ["report": "\(report)"])
        if options.journal.runtime == .threads {
            // unowned(unsafe): `close()`, which `deinit` calls, joins the
            // thread before the store's memory goes; a strong reference would
            // keep the store alive forever.
            maintenanceThread = MaintenanceThread { [unowned(unsafe) self] in self.maintain(urgent: false) }
        }
    }

    private static func makeDataFile(poolBytes: Int, options: PageStoreOptions) throws(PageStoreError) -> PagedFile {
        do {
            let pool = try PagePool(capacityBytes: poolBytes, pageBytes: options.dataPoolPageBytes)
            return try PagedFile(pool: pool)
        } catch {
            throw .dataFile(error)
        }
    }

    deinit { close() }

    // MARK: State

    /// The newest commit published (visible to write transactions; durable
    /// or on its way).
    public var publishedLSN: LSN { table.withLock { $0.publishedLSN } }
    /// The newest commit on stable storage.
    public var durableLSN: LSN { min(journal.durableLSN, publishedLSN) }
    /// The data file holds every commit at or below this LSN.
    public var appliedLSN: LSN { table.withLock { $0.appliedLSN } }
    /// Page versions held in the page translation table.
    public var tableVersionCount: Int { table.withLock { $0.versionCount } }
    /// Highest page number ever written plus one.
    public var pageCount: UInt64 { table.withLock { $0.pageCount } }
    /// Checkpoints started by the store itself (journal threshold crossed).
    public var automaticCheckpointCount: Int { maintenanceState.withLock { $0.automaticCheckpoints } }
    /// The last failure of automatic maintenance (apply or checkpoint), if any.
    public var lastMaintenanceError: PageStoreError? { maintenanceState.withLock { $0.lastError } }
    /// Bytes of transaction records committed since the last checkpoint began.
    public var journalBytesSinceCheckpoint: Int { table.withLock { $0.committedBytes - $0.checkpointBaseBytes } }
    /// Bytes of RAM the data file holds.
    public var dataFileAllocatedBytes: Int { dataFile.allocatedBytes }

    // MARK: Transactions

    /// Begins a read-only transaction at the newest durable commit. It sees
    /// exactly the commits at or below its LSN until it ends.
    public func beginRead() throws(PageStoreError) -> ReadTransaction {
        let lsn = try acquireSnapshot(write: false)
        return ReadTransaction(store: self, lsn: lsn)
    }

    /// Begins a write transaction at the newest published commit (durable
    /// or not). Commit fails with `conflict` if a page it writes was written
    /// by a commit after it began.
    public func beginWrite() throws(PageStoreError) -> WriteTransaction {
        let lsn = try acquireSnapshot(write: true)
        return WriteTransaction(store: self, startLSN: lsn)
    }

    func acquireSnapshot(write: Bool) throws(PageStoreError) -> LSN {
        return try table.withLock { s throws(PageStoreError) in
            if s.closed { throw .closed }
            if write, let poison = s.poison { throw .journal(poison) }
            // The durable LSN is read under the table lock: an apply reads it
            // before its own locked step A1, so a reader registering after A1
            // reads a durable LSN at least A1's and its snapshot is at or
            // above the horizon. Read before the lock, it could be older than
            // the horizon, and the reader would find newer applied images in
            // the data file where the table no longer holds its version.
            let lsn = write ? s.publishedLSN : min(s.publishedLSN, journal.durableLSN)
            assert(lsn >= s.appliedLSN, "a snapshot is never below the applied horizon")
            s.snapshotRefs[lsn, default: 0] += 1
            return lsn
        }
    }

    func releaseSnapshot(_ lsn: LSN) {
        table.withLock { s in
            guard let count = s.snapshotRefs[lsn] else { preconditionFailure("releasing a snapshot that is not held") }
            if count == 1 { s.snapshotRefs[lsn] = nil } else { s.snapshotRefs[lsn] = count - 1 }
        }
    }

    func checkPage(_ page: UInt64) throws(PageStoreError) {
        guard page < pageCountMax else { throw .pageOutOfRange(page: page, pageCountMax: pageCountMax) }
    }

    enum Source {
        case memory([UInt8])
        case journal(LSN, offset: Int)
        case dataFile
    }

    /// Copies page `page` as of snapshot `lsn` into `buffer` (pageBytes long).
    func readPage(_ page: UInt64, at lsn: LSN, into buffer: UnsafeMutableRawBufferPointer) throws(PageStoreError) {
        assert(buffer.count == pageBytes)
        try checkPage(page)
        var attempts = 0
        while true {
            let source: Source = table.withLock { s in
                if let list = s.versions[page], let v = list.last(where: { $0.lsn <= lsn }) {
                    if let image = v.image { return .memory(image) }
                    return .journal(v.lsn, offset: v.offset)
                }
                return .dataFile
            }
            switch source {
            case .memory(let image):
                image.withUnsafeBytes { buffer.copyMemory(from: $0) }
                return
            case .dataFile:
                try readDataFile(page, into: buffer)
                return
            case .journal(let recordLSN, let offset):
                do {
                    try journal.withRecord(at: recordLSN) { bytes in
                        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + pageBytes)]))
                    }
                    return
                } catch JournalError.lsnOutOfRange(_, _, _) where attempts < 8 {
                    // Applied and truncated since the lookup: look again.
                    attempts += 1
                } catch let error as JournalError {
                    throw PageStoreError.from(error)
                } catch {
                    preconditionFailure("unexpected \(error)")
                }
            }
        }
    }

    private func readDataFile(_ page: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(PageStoreError) {
        let count: Int
        do { count = try dataFile.read(at: Int(page) * pageBytes, into: buffer) } catch { throw .dataFile(error) }
        if count < buffer.count {
            UnsafeMutableRawBufferPointer(rebasing: buffer[count...]).initializeMemory(as: UInt8.self, repeating: 0)
        }
    }

    /// Commits `pages` written by a transaction that began at `startLSN`:
    /// steps C1-C3. Returns the commit's LSN (not yet durable).
    func commit(pages: [UInt64: [UInt8]], startLSN: LSN) throws(PageStoreError) -> LSN {
        let sorted = pages.sorted { $0.key < $1.key }.map { (number: $0.key, image: $0.value) }
        let recordBytes = TransactionRecord.recordBytes(pageCount: sorted.count, pageBytes: pageBytes)
        let recordBytesMax = journal.configuration.recordBytesMax
        guard recordBytes <= recordBytesMax else {
            throw .transactionTooLarge(pages: sorted.count, recordBytes: recordBytes, recordBytesMax: recordBytesMax)
        }
        let txid = try table.withLock { s throws(PageStoreError) -> UInt64 in
            if s.closed { throw .closed }
            defer { s.nextTxID += 1 }
            return s.nextTxID
        }
        let record = TransactionRecord.encode(txid: txid, pageBytes: pageBytes, pages: sorted)
        let (lsn, need) = try commitLock.withLock { _ throws(PageStoreError) -> (LSN, MaintenanceNeed) in
            try table.withLock { s throws(PageStoreError) in
                if s.closed { throw .closed }
                if let poison = s.poison { throw .journal(poison) }
                for page in sorted {
                    if let newest = s.versions[page.number]?.last, newest.lsn > startLSN { throw .conflict(page: page.number) }
                }
            }
            let lsn: LSN
            do throws(JournalError) { lsn = try journal.enqueue(record) } catch {
                noteJournalFailure(error)
                throw PageStoreError.from(error)
            }
            let durable = journal.durableLSN
            let need = table.withLock { s -> MaintenanceNeed in
                assert(lsn > s.publishedLSN, "commits publish in LSN order")
                for (i, page) in sorted.enumerated() {
                    let offset = TransactionRecord.imageOffset(index: i, pageCount: sorted.count, pageBytes: pageBytes)
                    s.versions[page.number, default: []].append(Version(lsn: lsn, offset: offset, image: page.image))
                    s.pageCount = max(s.pageCount, page.number + 1)
                }
                s.versionCount += sorted.count
                s.publishedLSN = lsn
                s.pending.append((lsn, sorted.map(\.number)))
                s.committedBytes += record.count
                s.imageBytes += sorted.count * pageBytes
                dropDurableCopies(&s, durable: durable)
                return maintenanceNeed(s)
            }
            return (lsn, need)
        }
        if need.any {
            if let thread = maintenanceThread, !need.urgent {
                thread.request()
            } else {
                maintain(urgent: need.urgent)
            }
        }
        return lsn
    }

    /// Whether the table or the journal is past its threshold. Table lock held.
    private func maintenanceNeed(_ s: TableState) -> MaintenanceNeed {
        var need = MaintenanceNeed()
        let factor = max(1, options.maintenanceBackpressureFactor)
        let versionsMax = max(1, options.applyThresholdVersions)
        if s.versionCount > versionsMax {
            need.apply = true
            if s.versionCount > versionsMax * factor { need.urgent = true }
        }
        if let bytesMax = options.checkpointThresholdJournalBytes {
            let since = s.committedBytes - s.checkpointBaseBytes
            if since > bytesMax {
                need.checkpoint = true
                if since > max(1, bytesMax) * factor { need.urgent = true }
            }
        }
        return need
    }

    /// Applies and checkpoints as the thresholds ask (Maintenance.swift).
    /// Failures are logged and kept, never thrown: the commit that asked is
    /// already queued. `urgent`: the hard bound was crossed, so wait for a
    /// running apply or checkpoint rather than skip.
    func maintain(urgent: Bool) {
        let need = table.withLock { s -> MaintenanceNeed? in
            s.closed || s.poison != nil ? nil : maintenanceNeed(s)
        }
        guard let need, need.any else { return }
        do throws(PageStoreError) {
            if need.checkpoint {
                // A checkpoint applies first: it bounds the table too.
                let report = try checkpoint(automatic: true, wait: urgent || maintenanceThread != nil)
                if report != nil { maintenanceState.withLock { $0.automaticCheckpoints += 1 } }
            } else if urgent || maintenanceThread != nil {
                try apply()
            } else {
                try applyIfIdle()
            }
        } catch {
            if case .closed = error { return }
            logger.error("automatic maintenance failed", metadata: ["error": "\(error)"])
            maintenanceState.withLock { $0.lastError = error }
        }
    }

    /// A journal failure that poisons: later commits and checkpoints are refused.
    private func noteJournalFailure(_ error: JournalError) {
        guard case .poisoned = error else { return }
        table.withLock { s in if s.poison == nil { s.poison = error } }
    }

    /// S3: while the in-memory copies exceed `tableImageBytesMax`, the
    /// oldest versions whose records are durable drop theirs (they are then
    /// read through the journal's mapping). Entries of applied commits are
    /// passed over: their versions are gone.
    func dropDurableCopies(_ s: inout TableState, durable: LSN) {
        let budget = options.tableImageBytesMax
        while s.pendingHead < s.pending.count {
            let (lsn, pages) = s.pending[s.pendingHead]
            if lsn > s.appliedLSN {
                guard lsn <= durable, s.imageBytes > budget else { break }
                for page in pages {
                    guard var list = s.versions[page], let i = list.lastIndex(where: { $0.lsn == lsn }) else { continue }
                    s.versions[page] = nil  // unique reference: no copy on write
                    if list[i].image != nil { s.imageBytes -= pageBytes }
                    list[i].image = nil
                    s.versions[page] = list
                }
            }
            s.pendingHead += 1
        }
        if s.pendingHead > 1024 && s.pendingHead * 2 > s.pending.count {
            s.pending.removeFirst(s.pendingHead)
            s.pendingHead = 0
        }
    }

    /// Waits until `lsn` is durable (in manual runtime: pumps the journal).
    public func waitUntilDurable(_ lsn: LSN) throws(PageStoreError) {
        do { try journal.waitUntilDurableBlocking(lsn) } catch {
            noteJournalFailure(error)
            throw PageStoreError.from(error)
        }
    }

    /// Suspends until `lsn` is durable.
    public func waitUntilDurable(_ lsn: LSN) async throws(PageStoreError) {
        do { try await journal.waitUntilDurable(lsn) } catch {
            noteJournalFailure(error)
            throw PageStoreError.from(error)
        }
    }

    /// Manual runtime: makes the journal progress (see `Journal.pump()`).
    public func pump() throws(PageStoreError) {
        do { try journal.pump() } catch {
            noteJournalFailure(error)
            throw PageStoreError.from(error)
        }
    }

    // MARK: Apply

    /// Applies unless another thread is applying (it will see our versions).
    private func applyIfIdle() throws(PageStoreError) {
        let result: Result<Void, PageStoreError>? = applyLock.withLockIfAvailable { _ in
            do throws(PageStoreError) { try applyLocked() } catch { return .failure(error) }
            return .success(())
        }
        try result?.get()
    }

    /// Applies every version at or below the horizon to the data file (A1-A3).
    public func apply() throws(PageStoreError) {
        try applyLock.withLock { _ throws(PageStoreError) in try applyLocked() }
    }

    private func applyLocked() throws(PageStoreError) {
        let durable = journal.durableLSN
        let (horizon, work) = table.withLock { s -> (LSN, [(page: UInt64, version: Version)]) in
            dropDurableCopies(&s, durable: durable)
            let horizon = min(s.snapshotRefs.keys.min() ?? .max, durable, s.publishedLSN)
            var work: [(UInt64, Version)] = []
            for (page, list) in s.versions {
                if let v = list.last(where: { $0.lsn <= horizon }) { work.append((page, v)) }
            }
            return (horizon, work)
        }
        // One journal read per record.
        let byRecord = Dictionary(grouping: work, by: { $0.version.lsn })
        for (lsn, items) in byRecord {
            let inJournal = items.filter { $0.version.image == nil }
            for item in items {
                if let image = item.version.image {
                    try writeDataFile(item.page, image)
                }
            }
            if inJournal.isEmpty { continue }
            do {
                try journal.withRecord(at: lsn) { bytes in
                    for item in inJournal {
                        let at = item.version.offset
                        try self.writeDataFile(item.page, UnsafeRawBufferPointer(rebasing: bytes[at..<(at + self.pageBytes)]))
                    }
                }
            } catch let error as PageStoreError {
                throw error
            } catch let error as JournalError {
                throw PageStoreError.from(error)
            } catch {
                preconditionFailure("unexpected \(error)")
            }
        }
        table.withLock { s in
            for item in work {
                guard var list = s.versions[item.page] else { preconditionFailure("a version being applied stays in the table") }
                s.versions[item.page] = nil
                let before = list.count
                let imagesBefore = list.count { $0.image != nil }
                list.removeAll { $0.lsn <= item.version.lsn }
                s.versionCount -= before - list.count
                s.imageBytes -= (imagesBefore - list.count { $0.image != nil }) * pageBytes
                if !list.isEmpty { s.versions[item.page] = list }
            }
            assert(s.versions.values.allSatisfy { $0.allSatisfy { $0.lsn > horizon } }, "S1")
            assert(s.snapshotRefs.keys.allSatisfy { $0 >= horizon }, "snapshots taken during an apply are at or above its horizon")
            s.appliedLSN = max(s.appliedLSN, horizon)
            assert(s.imageBytes >= 0)
        }
    }

    private func writeDataFile(_ page: UInt64, _ image: [UInt8]) throws(PageStoreError) {
        do {
            try withBytes(image) { (b: UnsafeRawBufferPointer) throws(PagedFileError) in try dataFile.write(at: Int(page) * pageBytes, from: b) }
        } catch { throw .dataFile(error) }
    }

    private func writeDataFile(_ page: UInt64, _ image: UnsafeRawBufferPointer) throws(PageStoreError) {
        do { try dataFile.write(at: Int(page) * pageBytes, from: image) } catch { throw .dataFile(error) }
    }

    // MARK: Checkpoint

    /// Applies what it can, writes the data file as a snapshot into the slot
    /// not in use (durably, header last), switches to it, and truncates the
    /// journal (see `JournalRetention`). Commits go on meanwhile; applies
    /// wait. Returns once the snapshot is durable.
    @discardableResult
    public func checkpoint() throws(PageStoreError) -> CheckpointReport {
        guard let report = try checkpoint(automatic: false, wait: true) else { preconditionFailure("a waiting checkpoint runs") }
        return report
    }

    /// A checkpoint; returns its report, or nil if it did not run. `automatic`: only if the
    /// journal is still past its threshold once the slot lock is held (a
    /// checkpoint that ran meanwhile may have done the work). `wait`: wait
    /// for a running checkpoint, else skip.
    private func checkpoint(automatic: Bool, wait: Bool) throws(PageStoreError) -> CheckpointReport? {
        let start = monotonicNanos()
        let body = { (slotState: inout SlotState) throws(PageStoreError) -> CheckpointReport? in
            let state = self.table.withLock { s -> (closed: Bool, poison: JournalError?, need: MaintenanceNeed) in
                (s.closed, s.poison, self.maintenanceNeed(s))
            }
            if state.closed { throw .closed }
            if let poison = state.poison { throw .journal(poison) }
            if automatic && !state.need.checkpoint { return nil }
            return try self.checkpointLocked(&slotState, start: start)
        }
        if wait { return try slots.withLock { s throws(PageStoreError) in try body(&s) } }
        let result: Result<CheckpointReport?, PageStoreError>? = slots.withLockIfAvailable { s in
            do throws(PageStoreError) { return .success(try body(&s)) } catch { return .failure(error) }
        }
        return try result?.get() ?? nil
    }

    /// Checkpoint steps (1)-(5) of Docs/page-store.md. Slot lock held.
    private func checkpointLocked(_ slotState: inout SlotState, start: UInt64) throws(PageStoreError) -> CheckpointReport {
        // The journal threshold counts from here; restored if this fails, so
        // the next commit past it tries again.
        let oldBase = table.withLock { s in
            defer { s.checkpointBaseBytes = s.committedBytes }
            return s.checkpointBaseBytes
        }
        do throws(PageStoreError) {
            return try writeSnapshotAndTruncate(&slotState, start: start)
        } catch {
            table.withLock { $0.checkpointBaseBytes = oldBase }
            throw error
        }
    }

    private func writeSnapshotAndTruncate(_ slotState: inout SlotState, start: UInt64) throws(PageStoreError) -> CheckpointReport {
        let (header, slot) = try applyLock.withLock { _ throws(PageStoreError) -> (SnapshotHeader, Int) in
            try applyLocked()
            let (lsn, txid) = table.withLock { s in (s.appliedLSN, s.nextTxID - 1) }
            let slot = slotState.current.map { 1 - $0.slot } ?? 0
            let header = SnapshotHeader(
                pageBytes: pageBytes, pageCount: (dataFile.length + pageBytes - 1) / pageBytes, lsn: lsn, storeID: storeID,
                sequence: (slotState.current?.header.sequence ?? 0) + 1, lastTxID: txid, tableCRC: 0)
            let io = SnapshotIO(storage: location.root, pageBytes: pageBytes)
            try io.write(slot: slot, header: header, from: dataFile)
            return (header, slot)
        }
        slotState.previous = slotState.current
        slotState.current = (slot, header)
        let keepFrom: LSN
        switch options.journalRetention {
        case .previousSnapshot: keepFrom = (slotState.previous?.header.lsn ?? 0) + 1
        case .newestSnapshot: keepFrom = header.lsn + 1
        }
        let released: Int
        do throws(JournalError) { released = try journal.truncate(before: keepFrom) } catch { throw PageStoreError.from(error) }
        let report = CheckpointReport(
            lsn: header.lsn, slot: slot, pageCount: header.pageCount, bytesWritten: header.fileBytes(alignment: location.root.ioAlignment),
            segmentsReleased: released, nanoseconds: monotonicNanos() - start)
        logger.info("checkpoint", metadata: ["report": "\(report)"])
        return report
    }

    // MARK: Closing

    /// Closes the journal (everything enqueued is written) and the data
    /// file, and releases the lock. Idempotent. Open transactions fail from
    /// then on.
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

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
