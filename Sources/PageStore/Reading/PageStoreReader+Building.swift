public import Journal
import JournalPrimitives
import PagedFile

// Building a reader's copy, and keeping it current (Docs/page-store.md,
// "Readers beside a writer"):
//
//   build:   choose the newest valid slot of this store that the journal
//            covers; load it stably (Snapshot+StableRead.swift); apply the
//            journal's records after it, each LSN exactly once and in order,
//            up to the journal's durable LSN. A slot that moved, or records
//            released before they were read, lose the try: start again.
//   refresh: with `.follow`, first bring the journal up to the durable
//            LSN the writer has published (`Journal.catchUpWithWriter`:
//            a commit the writer acknowledged before the call is seen);
//            apply the records after the copy's LSN up to the durable LSN;
//            if they were released meanwhile, build afresh from the newer
//            snapshot that released them.
//
// The copy changes only by whole records, in LSN order, so at every point
// it is the state after a prefix of the commits.

extension PageStoreReader {
    /// Why a try was lost; `error` is what the caller gets if every try is.
    struct Lost: Error {
        var error: PageStoreError
        /// Not a race with the writer: trying again would not help.
        var fatal = false
        var reason: String {
            if case .readerOvertaken(_, let why) = error { return why }
            return "\(error)"
        }
    }

    /// Moves the reader to the journal's newest durable LSN (never back).
    ///
    /// Applies the commits since its LSN; when the writer's truncation has
    /// released some of them, builds the copy afresh from the newer
    /// snapshot. Waits for reads in progress.
    ///
    /// Read-your-writes: every commit the writer acknowledged before the
    /// call is reflected, in another process too (with `.follow`, the
    /// journal first reads on to the durable LSN the writer published;
    /// with `.reopen`, recovery finds it).
    ///
    /// - Returns: the LSN the reader now reflects.
    /// - Throws: as `PageStore.openReadOnly`, and `closed`.
    @discardableResult
    public func refresh() throws(PageStoreError) -> LSN {
        try lock.withLock { () throws(PageStoreError) -> LSN in
            guard !closed else { throw .closed }
            try bringJournalUpToDate()
            do throws(Lost) {
                try Self.catchUp(&view, journal: journal, meta: meta, counters: counters)
            } catch {
                if error.fatal { throw error.error }
                noteRetry(error)
                let built = try Self.build(location: location, meta: meta, journal: journal, options: options, counters: counters)
                guard built.lsn >= view.lsn else {
                    built.file.close()
                    return view.lsn
                }
                view.file.close()
                view = built
            }
            return view.lsn
        }
    }

    /// The journal at the durable LSN the writer published by now: opened
    /// again with `.reopen`; read on with `.follow`, or opened again if
    /// the writer released records it had yet to read (its tail stopped:
    /// `updates()` moves to the new journal). Lock held.
    private func bringJournalUpToDate() throws(PageStoreError) {
        if options.journalAccess == .follow {
            do {
                try journal.catchUpWithWriter()
                return
            } catch {
                guard case .lsnOutOfRange = error else { throw .journal(error) }
                noteRetry(Lost(error: .journal(error)))
            }
        }
        let fresh = try Self.openJournal(location.journal, access: options.journalAccess)
        journal.close()
        journal = fresh
    }

    private func noteRetry(_ lost: Lost) {
        counters.withLock {
            $0.retries += 1
            $0.lastRetryReason = lost.reason
        }
    }

    /// A copy at the newest durable LSN, from the newest usable snapshot.
    static func build(
        location: PageStoreLocation, meta: StoreMetadata, journal: Journal, options: PageStoreReadOptions,
        counters: LockedValue<PageStoreReaderStatistics>
    ) throws(PageStoreError) -> View {
        var last = PageStoreError.readerOvertaken(attempts: 0, reason: "no try")
        for _ in 0..<max(1, options.attemptsMax) {
            do throws(Lost) {
                return try buildOnce(location: location, meta: meta, journal: journal, options: options, counters: counters)
            } catch {
                if error.fatal { throw error.error }
                last = error.error
                counters.withLock {
                    $0.retries += 1
                    $0.lastRetryReason = error.reason
                }
            }
        }
        if case .readerOvertaken(_, let reason) = last { throw .readerOvertaken(attempts: max(1, options.attemptsMax), reason: reason) }
        throw last
    }

    /// One try of `build`.
    private static func buildOnce(
        location: PageStoreLocation, meta: StoreMetadata, journal: Journal, options: PageStoreReadOptions,
        counters: LockedValue<PageStoreReaderStatistics>
    ) throws(Lost) -> View {
        let io = SnapshotIO(storage: location.root, pageBytes: meta.pageBytes)
        let poolBytes = roundUp(Int(meta.pageCountMax) * meta.pageBytes, toMultipleOf: options.store.dataPoolPageBytes)
        do {
            let candidates = try candidates(io: io, storeID: meta.storeID)
            let oldest = journal.oldestLSN
            var damage: PageStoreError?
            for (slot, header) in candidates {
                guard header.lsn + 1 >= oldest else {
                    if let damage {
                        throw PageStoreError.corruption(file: "snapshots", detail: "\(damage); the older snapshot at LSN \(header.lsn) is not covered by the journal (first LSN \(oldest))")
                    }
                    throw Lost(error: .journalDoesNotCoverSnapshot(snapshotLSN: header.lsn, journalFirstLSN: oldest))
                }
                let file = try PageStore.makeDataFile(poolBytes: poolBytes, options: options.store)
                switch try loadClosingOnError(io, slot: slot, header: header, into: file) {
                case .loaded:
                    counters.withLock { $0.snapshotLoads += 1 }
                    return try catchUpFresh(View(file: file, lsn: header.lsn, snapshotLSN: header.lsn), journal: journal, meta: meta, counters: counters)
                case .changed(let why):
                    file.close()
                    throw Lost(error: .readerOvertaken(attempts: 0, reason: why))
                case .damaged(let error):
                    file.close()
                    damage = damage ?? error
                }
            }
            if let damage { throw PageStoreError.corruption(file: "snapshots", detail: "\(damage), and no older snapshot the journal covers") }
            guard oldest <= 1 else { throw Lost(error: .journalDoesNotCoverSnapshot(snapshotLSN: 0, journalFirstLSN: oldest)) }
            let file = try PageStore.makeDataFile(poolBytes: poolBytes, options: options.store)
            return try catchUpFresh(View(file: file, lsn: 0, snapshotLSN: 0), journal: journal, meta: meta, counters: counters)
        } catch let lost as Lost {
            throw lost
        } catch let error as PageStoreError {
            throw Lost(error: error, fatal: true)
        } catch {
            preconditionFailure("unexpected \(error)")
        }
    }

    private static func loadClosingOnError(
        _ io: SnapshotIO, slot: Int, header: SnapshotHeader, into file: PagedFile
    ) throws(PageStoreError) -> SnapshotIO.StableRead {
        do { return try io.loadStable(slot: slot, expected: header, into: file) } catch {
            file.close()
            throw error
        }
    }

    /// `catchUp` on a copy of its own: closes it if the try is lost.
    private static func catchUpFresh(
        _ fresh: View, journal: Journal, meta: StoreMetadata, counters: LockedValue<PageStoreReaderStatistics>
    ) throws(Lost) -> View {
        var view = fresh
        do { try catchUp(&view, journal: journal, meta: meta, counters: counters) } catch {
            view.file.close()
            throw error
        }
        return view
    }

    /// The valid slots of this store, newest (highest sequence) first.
    private static func candidates(io: SnapshotIO, storeID: UInt64) throws(PageStoreError) -> [(slot: Int, header: SnapshotHeader)] {
        var out: [(slot: Int, header: SnapshotHeader)] = []
        for slot in 0..<SnapshotHeader.slotNames.count {
            let outcome: SnapshotHeader.Outcome
            do { outcome = try io.readHeader(slot: slot) } catch {
                // Removed between the listing and the open: being rewritten.
                if case .io(let e) = error, e.errno == .noSuchFileOrDirectory { continue }
                throw error
            }
            switch outcome {
            case .valid(let h) where h.storeID == storeID: out.append((slot, h))
            case .valid, .invalid: continue
            case .newerVersion(let v):
                throw .newerFormat(file: SnapshotHeader.slotNames[slot], found: v, supported: SnapshotHeader.version)
            }
        }
        return out.sorted { $0.header.sequence > $1.header.sequence }
    }

    /// Applies the journal's records after `view.lsn` through its durable
    /// LSN to the copy, each exactly once, in order. Lost when records
    /// were released before they were read (the journal starts past
    /// `view.lsn + 1`, or a recycled segment no longer holds them); the
    /// copy is then still the state at `view.lsn`, a prefix.
    static func catchUp(
        _ view: inout View, journal: Journal, meta: StoreMetadata, counters: LockedValue<PageStoreReaderStatistics>
    ) throws(Lost) {
        let target = journal.durableLSN
        guard target > view.lsn else { return }
        let oldest = journal.oldestLSN
        guard oldest <= view.lsn + 1 else {
            throw Lost(error: .readerOvertaken(attempts: 0, reason: "the journal starts at LSN \(oldest), past the reader's \(view.lsn)"))
        }
        var scratch = [UInt8](repeating: 0, count: meta.pageBytes)
        var applied = 0
        defer { counters.withLock { $0.appliedTransactions += applied } }
        let file = view.file
        var expected = view.lsn + 1
        do {
            try journal.forEachRecord(from: expected, through: target) { lsn, bytes in
                guard lsn == expected else { throw Lost(error: .readerOvertaken(attempts: 0, reason: "the journal skipped from LSN \(expected) to \(lsn)")) }
                try applyValidated(lsn: lsn, bytes: bytes, meta: meta, file: file, scratch: &scratch)
                expected += 1
                applied += 1
                return true
            }
        } catch {
            view.lsn = expected - 1
            throw lost(error)
        }
        view.lsn = expected - 1
        guard view.lsn >= target else {
            throw Lost(error: .readerOvertaken(attempts: 0, reason: "the journal ended at LSN \(view.lsn) before its durable LSN \(target)"))
        }
    }

    /// Decodes one record and applies it whole: every check runs before
    /// the first page is written, so the copy never holds part of it.
    private static func applyValidated(
        lsn: LSN, bytes: UnsafeRawBufferPointer, meta: StoreMetadata, file: PagedFile, scratch: inout [UInt8]
    ) throws {
        let decoded: TransactionRecord.Decoded
        do throws(TransactionRecord.Problem) {
            decoded = try TransactionRecord.decode(bytes, pageBytes: meta.pageBytes)
        } catch .newerVersion(let v) {
            throw PageStoreError.newerFormat(file: "journal record \(lsn)", found: UInt32(v), supported: UInt32(TransactionRecord.version))
        } catch .corrupt(let why) {
            throw PageStoreError.corruption(file: "journal record \(lsn)", detail: why)
        }
        if let last = decoded.pages.last, last.number >= meta.pageCountMax {
            throw PageStoreError.corruption(file: "journal record \(lsn)", detail: "page \(last.number) beyond the limit")
        }
        try PageStore.applyRecord(decoded, bytes, lsn: lsn, meta: meta, dataFile: file, scratch: &scratch)
    }

    /// A failure while applying records, as a lost try or a fatal error.
    private static func lost(_ error: any Error) -> Lost {
        switch error {
        case let e as Lost: return e
        case let e as PageStoreError: return Lost(error: e, fatal: true)
        case let e as PagedFileError: return Lost(error: .dataFile(e), fatal: true)
        case let e as JournalError:
            switch e {
            // Released, or read from a segment the writer recycled under us.
            case .lsnOutOfRange, .corruption: return Lost(error: .journal(e))
            default: return Lost(error: .journal(e), fatal: true)
            }
        default: preconditionFailure("unexpected \(error)")
        }
    }
}
