public import Journal
import JournalPrimitives
import JournalStorage

// Installing a snapshot from elsewhere (Docs/page-store.md, "Installing a
// snapshot"): the pages of another store at one LSN replace this store's
// whole state, atomically. They are written as a checkpoint would write
// them, into the slot not in use with the next sequence and the LSN of the
// journal's end, header last: recovery then loads them and replays nothing
// before them. A power cut before the header leaves the slot in use and the
// journal, so the old state; after it, the new one. The older slot is then
// removed, so that a damaged new slot can never be completed by the old
// snapshot and the journal (that would mix the two states), and the journal
// is truncated behind the new snapshot.

extension PageStore {
    /// Replaces the state of the store at `location`, which must not be
    /// open, with `pages` (images of `pageBytes` bytes, the store's page
    /// size, page 0 first): after it returns, and after a crash at any point once the
    /// new snapshot's header is durable, the store holds exactly `pages`;
    /// a crash before leaves the old state whole. Returns the LSN of the
    /// installed snapshot (commits after it build on `pages`).
    ///
    /// Blocks the calling thread for the store's recovery and the
    /// snapshot's writes.
    ///
    /// - Throws: what `open` throws; `.invalidArgument` when `pages` is not
    ///   a whole number of pages, holds more than the store's limit, or
    ///   `pageBytes` is not the store's page size;
    ///   `.io` if a write fails (the old state stays in use).
    /// - Complexity: O(recovery + pages × page bytes).
    @discardableResult
    public static func installSnapshot(
        location: PageStoreLocation, options: PageStoreOptions, pageBytes: Int, pages: UnsafeRawBufferPointer
    ) throws(PageStoreError) -> LSN {
        let store = try open(location: location, options: options)
        defer { store.close() }
        guard pageBytes == store.pageBytes else {
            throw .invalidArgument("pages of \(pageBytes) bytes; the store's are \(store.pageBytes) bytes")
        }
        return try store.install(pages: pages)
    }

    private func install(pages: UnsafeRawBufferPointer) throws(PageStoreError) -> LSN {
        guard pages.count % pageBytes == 0, pages.count > 0 else {
            throw .invalidArgument("a snapshot of \(pages.count) bytes is no whole number of \(pageBytes)-byte pages")
        }
        let pageCount = pages.count / pageBytes
        guard UInt64(pageCount) <= pageCountMax else {
            throw .invalidArgument("a snapshot of \(pageCount) pages exceeds the store's limit of \(pageCountMax)")
        }
        return try slots.withLock { (slotState: inout SlotState) throws(PageStoreError) -> LSN in
            let (lsn, txid) = table.withLock { s in (s.publishedLSN, s.nextTxID - 1) }
            // Freshly opened, nothing is in flight: every record is durable.
            precondition(journal.durableLSN >= lsn, "a record not durable in a store nobody wrote since it opened")
            let old = slotState.current
            let slot = old.map { 1 - $0.slot } ?? 0
            let header = SnapshotHeader(
                pageBytes: pageBytes, pageCount: pageCount, lsn: lsn, storeID: storeID,
                sequence: max(old?.header.sequence ?? 0, slotState.previous?.header.sequence ?? 0) + 1, lastTxID: txid, tableCRC: 0)
            let io = SnapshotIO(storage: location.root, pageBytes: pageBytes)
            try io.write(slot: slot, header: header) { (offset, bytes) throws(PageStoreError) -> Int in
                let count = min(bytes.count, pages.count - offset)
                bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: pages[offset..<(offset + count)]))
                return count
            }
            slotState.previous = nil
            slotState.current = (slot, header)
            let other = SnapshotHeader.slotNames[1 - slot]
            do throws(StorageError) {
                if try location.root.fileNames().contains(other) { try location.root.remove(other) }
            } catch {
                throw PageStoreError.from(error)
            }
            do throws(JournalError) { _ = try journal.truncate(before: lsn + 1) } catch { throw PageStoreError.from(error) }
            logger.info("snapshot installed", metadata: ["lsn": "\(lsn)", "pages": "\(pageCount)", "slot": "\(slot)"])
            return lsn
        }
    }
}
