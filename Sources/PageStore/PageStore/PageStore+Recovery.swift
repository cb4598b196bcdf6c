public import Journal
import JournalPrimitives
import PagedFile

// Recovery, when a store opens (Docs/page-store.md, "Recovery"): the
// journal has already cut its own torn tail; the store then
//
//   1. classifies the snapshot slots: valid and of this store, or rejected;
//   2. loads the newest valid snapshot that the journal covers (its first
//      LSN at most the snapshot's + 1) into a fresh data file, falling back
//      to the older slot if the newest fails its checksums;
//   3. replays every transaction record after the snapshot's LSN, in LSN
//      order: a page's image is written as it is, a page's delta onto the
//      page's previous version (what the data file holds at that point).

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

extension PageStore {
    /// What recovery hands to the store it opens.
    struct Recovered {
        var dataFile: PagedFile
        var report: PageStoreRecoveryReport
        /// The snapshot loaded (the slot in use), if any.
        var snapshot: (slot: Int, header: SnapshotHeader)?
        /// The highest transaction id recovered.
        var lastTxID: UInt64
        /// Highest page number recovered plus one.
        var pageCount: UInt64
    }

    /// Steps 1-3 above, for a store whose journal `journal` is open.
    static func recover(
        location: PageStoreLocation, meta: StoreMetadata, journal: Journal, options: PageStoreOptions, start: UInt64
    ) throws(PageStoreError) -> Recovered {
        let poolBytes = roundUp(Int(meta.pageCountMax) * meta.pageBytes, toMultipleOf: options.dataPoolPageBytes)
        let io = SnapshotIO(storage: location.root, pageBytes: meta.pageBytes)
        var report = PageStoreRecoveryReport(journal: journal.recoveryReport)
        let candidates = try snapshotCandidates(io: io, storeID: meta.storeID, report: &report)
        let loaded = try loadNewestCoveredSnapshot(
            candidates, io: io, journal: journal, poolBytes: poolBytes, options: options, report: &report)
        let dataFile: PagedFile
        if let loaded { dataFile = loaded.file } else { dataFile = try makeDataFile(poolBytes: poolBytes, options: options) }
        report.snapshotLSN = loaded?.header.lsn ?? 0
        report.snapshotSlot = loaded?.slot
        var recovered = Recovered(
            dataFile: dataFile, report: report, snapshot: loaded.map { ($0.slot, $0.header) },
            lastTxID: loaded?.header.lastTxID ?? 0, pageCount: UInt64(loaded?.header.pageCount ?? 0))
        try replay(journal: journal, meta: meta, into: &recovered)
        recovered.report.nanoseconds = monotonicNanos() - start
        return recovered
    }

    /// Step 1: the valid snapshots of this store, newest (highest sequence)
    /// first; the others are noted in `report`.
    private static func snapshotCandidates(
        io: SnapshotIO, storeID: UInt64, report: inout PageStoreRecoveryReport
    ) throws(PageStoreError) -> [(slot: Int, header: SnapshotHeader)] {
        var candidates: [(slot: Int, header: SnapshotHeader)] = []
        for slot in 0..<SnapshotHeader.slotNames.count {
            switch try io.readHeader(slot: slot) {
            case .valid(let h) where h.storeID == storeID:
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
        return candidates
    }

    /// Step 2: the newest candidate the journal covers, loaded into a fresh
    /// data file; nil when there is none and the journal starts at LSN 1
    /// (the store starts empty). A covered snapshot that fails to load
    /// falls back to the next; an uncovered one is an error.
    private static func loadNewestCoveredSnapshot(
        _ candidates: [(slot: Int, header: SnapshotHeader)], io: SnapshotIO, journal: Journal, poolBytes: Int,
        options: PageStoreOptions, report: inout PageStoreRecoveryReport
    ) throws(PageStoreError) -> (file: PagedFile, slot: Int, header: SnapshotHeader)? {
        let journalFirst = journal.oldestLSN
        let durable = journal.durableLSN
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
            let file = try makeDataFile(poolBytes: poolBytes, options: options)
            do throws(PageStoreError) {
                try io.load(slot: candidate.slot, header: h, into: file)
                return (file, candidate.slot, h)
            } catch {
                file.close()
                firstFailure = firstFailure ?? error
                report.rejectedSnapshots.append("\(error)")
                options.logger.warning("snapshot rejected", metadata: ["slot": "\(candidate.slot)", "error": "\(error)"])
            }
        }
        if let firstFailure {
            throw .corruption(file: "snapshots", detail: "\(firstFailure), and no older snapshot the journal covers")
        }
        if journalFirst > 1 {
            throw .journalDoesNotCoverSnapshot(snapshotLSN: 0, journalFirstLSN: journalFirst)
        }
        return nil
    }

    /// Step 3: writes every page of every transaction record after the
    /// snapshot into the data file, in LSN order. Closes the data file if
    /// it fails.
    private static func replay(journal: Journal, meta: StoreMetadata, into recovered: inout Recovered) throws(PageStoreError) {
        let dataFile = recovered.dataFile
        let pageBytes = meta.pageBytes
        var lastTxID = recovered.lastTxID
        var pageCount = recovered.pageCount
        var replayed = 0
        var scratch = [UInt8](repeating: 0, count: pageBytes)
        do {
            try journal.forEachRecord(from: recovered.report.snapshotLSN + 1) { lsn, bytes in
                let decoded: TransactionRecord.Decoded
                do throws(TransactionRecord.Problem) {
                    decoded = try TransactionRecord.decode(bytes, pageBytes: pageBytes)
                } catch .newerVersion(let v) {
                    throw PageStoreError.newerFormat(file: "journal record \(lsn)", found: UInt32(v), supported: UInt32(TransactionRecord.version))
                } catch .corrupt(let why) {
                    throw PageStoreError.corruption(file: "journal record \(lsn)", detail: why)
                }
                try applyRecord(decoded, bytes, lsn: lsn, meta: meta, dataFile: dataFile, scratch: &scratch)
                if let last = decoded.pages.last { pageCount = max(pageCount, last.number + 1) }
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
        recovered.lastTxID = lastTxID
        recovered.pageCount = pageCount
        recovered.report.replayedTransactions = replayed
    }

    /// Writes the pages of one validated record into the data file: an
    /// image as it is; a delta onto the page's previous version, which the
    /// data file holds since records replay in LSN order. Any reader that
    /// rebuilds pages from the journal (recovery, a follower) applies
    /// records this way, in LSN order from a snapshot.
    static func applyRecord(
        _ decoded: TransactionRecord.Decoded, _ bytes: UnsafeRawBufferPointer, lsn: LSN, meta: StoreMetadata,
        dataFile: PagedFile, scratch: inout [UInt8]
    ) throws {
        let pageBytes = meta.pageBytes
        for page in decoded.pages {
            guard page.number < meta.pageCountMax else {
                throw PageStoreError.corruption(file: "journal record \(lsn)", detail: "page \(page.number) beyond the limit")
            }
            let at = Int(page.number) * pageBytes
            let body = UnsafeRawBufferPointer(rebasing: bytes[page.body])
            switch page.kind {
            case .image:
                try dataFile.write(at: at, from: body)
            case .delta:
                try scratch.withUnsafeMutableBytes { b in
                    let count = try dataFile.read(at: at, into: b)
                    if count < pageBytes { UnsafeMutableRawBufferPointer(rebasing: b[count...]).initializeMemory(as: UInt8.self, repeating: 0) }
                    PageDelta.apply(body, to: b)
                    try dataFile.write(at: at, from: UnsafeRawBufferPointer(b))
                }
            }
        }
    }

    static func makeDataFile(poolBytes: Int, options: PageStoreOptions) throws(PageStoreError) -> PagedFile {
        do {
            let pool = try PagePool(capacityBytes: poolBytes, pageBytes: options.dataPoolPageBytes)
            return try PagedFile(pool: pool)
        } catch {
            throw .dataFile(error)
        }
    }
}
