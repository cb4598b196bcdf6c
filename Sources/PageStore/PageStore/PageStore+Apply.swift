import Journal
import JournalPrimitives
import PagedFile

// Apply (protocol steps A1-A3 in PageStore.swift): copies the newest
// version of each page at or below the horizon into the data file and drops
// it from the table, so that the table stays bounded and a checkpoint can
// save the data file.

extension PageStore {
    /// Applies unless another thread is applying (it will see our versions).
    func applyIfIdle() throws(PageStoreError) {
        let result: Result<Void, PageStoreError>? = applyLock.withLockIfAvailable {
            do throws(PageStoreError) { try applyLocked() } catch { return .failure(error) }
            return .success(())
        }
        try result?.get()
    }

    /// Applies every version at or below the horizon to the data file (A1-A3).
    /// Commits apply on their own past `PageStoreOptions.applyThresholdVersions`;
    /// call this to shrink the page table now.
    ///
    /// Blocks while another apply runs; commits and reads go on meanwhile.
    /// Changes nothing a transaction sees. Thread-safe.
    ///
    /// - Throws: `PageStoreError.dataFile` if the data file's pool is full,
    ///   `.journal` if a version cannot be read from the journal.
    /// - Complexity: O(versions applied × page bytes).
    public func apply() throws(PageStoreError) {
        try applyLock.withLock { () throws(PageStoreError) in try applyLocked() }
    }

    /// A1-A3. Apply lock held.
    func applyLocked() throws(PageStoreError) {
        let durable = journal.durableLSN
        let (horizon, work) = table.withLock { s -> (LSN, [(page: UInt64, version: PageTable.Version)]) in
            dropDurableCopies(&s, durable: durable)
            let horizon = min(s.snapshotRefs.keys.min() ?? .max, durable, s.publishedLSN)
            return (horizon, s.pages.versionsToApply(horizon: horizon))
        }
        try writeDataFile(work)
        table.withLock { s in
            s.pages.removeApplied(work)
            assert(s.pages.allVersions(above: horizon), "S1")
            assert(s.snapshotRefs.keys.allSatisfy { $0 >= horizon }, "snapshots taken during an apply are at or above its horizon")
            s.appliedLSN = max(s.appliedLSN, horizon)
        }
    }

    /// A2: writes each version's image into the data file, from its
    /// in-memory copy or else from its record (one journal read per record).
    private func writeDataFile(_ work: [(page: UInt64, version: PageTable.Version)]) throws(PageStoreError) {
        let byRecord = Dictionary(grouping: work, by: { $0.version.lsn })
        for (lsn, items) in byRecord {
            let inJournal = items.filter { $0.version.image == nil }
            for item in items {
                if let image = item.version.image {
                    try writeDataFile(item.page, image)
                }
            }
            if inJournal.isEmpty { continue }
            try PageStoreError.mapping {
                try journal.withRecord(at: lsn) { bytes in
                    for item in inJournal {
                        // S3: a version without its copy has its image in the record.
                        guard let at = item.version.offset else { preconditionFailure("a delta's version keeps its copy until applied") }
                        try self.writeDataFile(item.page, UnsafeRawBufferPointer(rebasing: bytes[at..<(at + self.pageBytes)]))
                    }
                }
            }
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
}
