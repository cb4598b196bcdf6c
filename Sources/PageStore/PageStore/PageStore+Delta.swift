import Journal
import JournalPrimitives

// Page deltas at commit (Docs/page-store.md, "Transaction records"): a
// written page is journaled as the ranges that changed since its previous
// committed version when they are small.
//
// Why the previous version is the one at the transaction's start LSN: C1
// refuses the commit if any page it writes has a version above the start
// LSN, so once the record is enqueued the page's newest version before it
// is the one at the start LSN. The transaction's snapshot holds the apply
// horizon at or below the start LSN, so no newer version can have been
// applied and dropped from the table unseen by C1. Recovery replays records
// in LSN order onto the snapshot's pages, so when it meets the delta the
// data file holds exactly that previous version.

extension PageStore {
    /// The pages of a commit, sorted by number, each with its delta against
    /// the page at `startLSN` when the option is on and the delta is at most
    /// half a page.
    func pageWrites(_ pages: [UInt64: [UInt8]], startLSN: LSN) throws(PageStoreError) -> [TransactionRecord.PageWrite] {
        var writes: [TransactionRecord.PageWrite] = []
        writes.reserveCapacity(pages.count)
        for (number, image) in pages.sorted(by: { $0.key < $1.key }) {
            var write = TransactionRecord.PageWrite(number: number, image: image, delta: nil)
            if options.journalPageDeltas {
                let base = try baseImage(of: number, at: startLSN)
                let ranges = base.withUnsafeBytes { b in image.withUnsafeBytes { PageDelta.changedRanges(base: b, new: $0) } }
                if PageDelta.bodyBytes(ranges) <= pageBytes / 2 { write.delta = ranges }
            }
            writes.append(write)
        }
        return writes
    }

    /// Page `page` at snapshot `lsn`: the table's in-memory copy when it has
    /// one (no copy made), else read from the journal or the data file.
    private func baseImage(of page: UInt64, at lsn: LSN) throws(PageStoreError) -> [UInt8] {
        if let image = table.withLock({ $0.pages.version(of: page, at: lsn)?.image }) { return image }
        var out = [UInt8](repeating: 0, count: pageBytes)
        try withMutableBytes(&out) { (b: UnsafeMutableRawBufferPointer) throws(PageStoreError) in
            try readPage(page, at: lsn, into: b)
        }
        return out
    }
}
