@_spi(Testing) public import Journal
import PagedFile

// Transactions against the store (protocol steps C1-C4 and the snapshot
// rules in PageStore.swift): beginning them, reading a page at a
// snapshot, committing, and waiting for durability.

extension PageStore {
    /// Begins a read-only transaction at the newest durable commit. It sees
    /// exactly the commits at or below its LSN until it ends.
    ///
    /// Never waits for writers (takes the table lock briefly). End it
    /// promptly: the versions it may need stay in memory while it is open.
    ///
    /// - Throws: `PageStoreError.closed`.
    /// - Complexity: O(1) amortized.
    public func beginRead() throws(PageStoreError) -> ReadTransaction {
        let lsn = try acquireSnapshot(write: false)
        return ReadTransaction(store: self, lsn: lsn)
    }

    /// Begins a write transaction at the newest published commit (durable
    /// or not). Commit fails with `conflict` if a page it writes was written
    /// by a commit after it began.
    ///
    /// Never waits; nothing is written before commit.
    ///
    /// - Throws: `PageStoreError.closed`, `.journal` once a journal write
    ///   failed (the store is poisoned until reopened).
    /// - Complexity: O(1) amortized.
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
                guard let v = s.pages.version(of: page, at: lsn) else { return .dataFile }
                if let image = v.image { return .memory(image) }
                guard let offset = v.offset else { preconditionFailure("a delta's version keeps its copy until applied") }
                return .journal(v.lsn, offset: offset)
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

    /// Commits `pages` written by a transaction that began at `startLSN`:
    /// steps C1-C3. Returns the commit's LSN (not yet durable, unless
    /// `inline` wrote it: `WriteTransaction.commitLazy(writingInlineFrom:)`).
    func commit(pages: [UInt64: [UInt8]], startLSN: LSN, inline: InlineWriter? = nil) throws(PageStoreError) -> LSN {
        let sorted = try pageWrites(pages, startLSN: startLSN)
        let recordBytes = TransactionRecord.recordBytes(sorted, pageBytes: pageBytes)
        let recordBytesMax = journal.configuration.recordBytesMax
        guard recordBytes <= recordBytesMax else {
            throw .transactionTooLarge(pages: sorted.count, recordBytes: recordBytes, recordBytesMax: recordBytesMax)
        }
        let txid = try table.withLock { s throws(PageStoreError) -> UInt64 in
            if s.closed { throw .closed }
            defer { s.nextTxID += 1 }
            return s.nextTxID
        }
        let (record, offsets) = TransactionRecord.encode(txid: txid, pageBytes: pageBytes, pages: sorted)
        let published = zip(sorted, offsets).map { (number: $0.number, image: $0.image, offset: $1) }
        let (lsn, need) = try commitLock.withLock { () throws(PageStoreError) -> (LSN, MaintenanceNeed) in
            try table.withLock { s throws(PageStoreError) in
                if s.closed { throw .closed }
                if let poison = s.poison { throw .journal(poison) }
                for page in sorted {
                    if let newest = s.pages.newestLSN(of: page.number), newest > startLSN { throw .conflict(page: page.number) }
                }
            }
            let lsn: LSN
            do throws(JournalError) {
                // The durable LSN below is read after an inline write: the
                // commit is published with its own copy either way (S3).
                if let inline { lsn = try journal.enqueue(record, writingInlineFrom: inline) } else { lsn = try journal.enqueue(record) }
            } catch {
                noteJournalFailure(error)
                throw PageStoreError.from(error)
            }
            let durable = journal.durableLSN
            let need = table.withLock { s -> MaintenanceNeed in
                assert(lsn > s.publishedLSN, "commits publish in LSN order")
                s.pages.publish(lsn: lsn, pages: published)
                if let last = sorted.last { s.pageCount = max(s.pageCount, last.number + 1) }
                s.publishedLSN = lsn
                s.committedBytes += record.count
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

    /// S3 for the table: drops in-memory copies of durable versions past
    /// `tableImageBytesMax`. Table lock held.
    func dropDurableCopies(_ s: inout TableState, durable: LSN) {
        s.pages.dropDurableCopies(durable: durable, applied: s.appliedLSN, budgetBytes: options.tableImageBytesMax)
    }

    /// A journal failure that poisons: later commits and checkpoints are refused.
    func noteJournalFailure(_ error: JournalError) {
        guard case .poisoned = error else { return }
        table.withLock { s in if s.poison == nil { s.poison = error } }
    }

    /// Blocks the calling thread until the commit `lsn`, and every commit
    /// before it, is durable (in manual runtime: pumps the journal). Returns
    /// at once if it already is. Thread-safe; from a task use the async
    /// variant.
    ///
    /// - Throws: `PageStoreError.journal` wrapping `.poisoned` (the store is
    ///   then poisoned) or `.closed`.
    public func waitUntilDurable(_ lsn: LSN) throws(PageStoreError) {
        do { try journal.waitUntilDurableBlocking(lsn) } catch {
            noteJournalFailure(error)
            throw PageStoreError.from(error)
        }
    }

    /// Suspends the calling task until the commit `lsn`, and every commit
    /// before it, is durable; never blocks a thread. Not cancellable.
    ///
    /// - Throws: as the blocking variant.
    public func waitUntilDurable(_ lsn: LSN) async throws(PageStoreError) {
        do { try await journal.waitUntilDurable(lsn) } catch {
            noteJournalFailure(error)
            throw PageStoreError.from(error)
        }
    }

    /// Manual runtime: makes the journal progress (see `Journal.pump()`).
    /// For deterministic tests and simulation only.
    @_spi(Testing) public func pump() throws(PageStoreError) {
        do { try journal.pump() } catch {
            noteJournalFailure(error)
            throw PageStoreError.from(error)
        }
    }
}
