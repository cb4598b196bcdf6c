import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Length changes and close: T1-T7 of the protocol described at the top of
// PagedFile.swift; T2 and T5 are in PagedFile+WriterGate.swift.

extension PagedFile {
    // MARK: Length

    /// Sets the length. Growing reserves capacity for the new pages without
    /// touching them (they read as zeros, and a later write inside the length
    /// cannot run out of space). Shrinking frees the pages past the new end
    /// once no reader or writer can touch them, and zeroes the bytes past the
    /// new end in its last page.
    ///
    /// Growing runs concurrently with reads and writes. Shrinking waits for
    /// writers inside this file to finish and blocks new ones for the
    /// duration of the page-table update (no data copy happens meanwhile);
    /// it then waits for readers that might hold freed pages, without
    /// blocking anyone.
    ///
    /// - Throws: `invalidArgument` for a negative length; `outOfSpace` if
    ///   growing cannot be reserved (nothing changes then); `closed`.
    /// - Complexity: O(pages past the new end) for shrinking, O(1) for growing.
    public func setLength(_ newLength: Int) throws(PagedFileError) {
        guard newLength >= 0 else { throw .invalidArgument("length is negative") }
        guard newLength <= lengthMax else { throw .outOfSpace }
        if newLength >= length {
            let ticket = try enterWriter()
            defer { exitWriter(ticket) }
            if newLength >= length {
                try reserveExtent(upTo: newLength)
                publishLength(atLeast: newLength)
                return
            }
        }
        try shrink(to: newLength)
    }

    private func shrink(to newLength: Int) throws(PagedFileError) {
        let (chainHead, retired) = try resizeLock.withLock {                // T1
            (closed: inout Bool) throws(PagedFileError) -> (PagePool.PageIndex?, Int) in
            guard !closed else { throw .closed }
            excludeWriters(closing: false)                                  // T2
            defer { admitWriters() }                                        // T5
            let oldLength = word(Self.lengthSlot).pointee.load(ordering: .acquiring)
            let oldExtent = word(Self.extentSlot).pointee.load(ordering: .acquiring)
            assert(oldExtent == oldLength, "extent and length differ with no writer inside")
            // Someone may have shrunk first; then grow back below.
            guard newLength < oldLength else { return (nil, 0) }
            return cut(from: newLength, oldExtent: oldExtent)               // T3, T4
        }
        reclaim(chainHead, count: retired)                                  // T6, T7
        if newLength > length { try setLength(newLength) }
    }

    /// Closes the file: frees its pages (after readers inside have left) and
    /// its reservations. Later reads, writes and length changes throw
    /// `closed`; getters report zero. Idempotent.
    ///
    /// Waits for writers inside to finish and for readers inside to leave.
    /// - Complexity: O(pages of the file).
    public func close() {
        let (chainHead, retired) = resizeLock.withLock { (closed: inout Bool) -> (PagePool.PageIndex?, Int) in
            guard !closed else { return (nil, 0) }
            closed = true
            word(Self.closedSlot).pointee.store(1, ordering: .sequentiallyConsistent)
            excludeWriters(closing: true)
            let oldExtent = word(Self.extentSlot).pointee.load(ordering: .acquiring)
            return cut(from: 0, oldExtent: oldExtent)
        }
        reclaim(chainHead, count: retired)
    }

    /// T6 and T7: waits out the readers that may hold the pages, then gives
    /// them back. Reclaimers are serialized so that each epoch flip drains.
    private func reclaim(_ chainHead: PagePool.PageIndex?, count: Int) {
        guard count > 0 else { return }
        reclaimLock.withLock {
            epochs.synchronize()
            pool.release(chain: chainHead, count: count)
        }
    }

    /// T3 and T4: with writers excluded, cuts the file to `newLength`.
    /// Returns the chain of unpublished pages and its length.
    private func cut(from newLength: Int, oldExtent: Int) -> (PagePool.PageIndex?, Int) {
        // No writer is admitted here (T2), but the gate's count is not
        // asserted zero: a writer on the count path that arrives now adds
        // one, sees the resizing bit and takes it back without touching a
        // page (W1 fallback), so the count can read non-zero for a moment.
        assert(word(Self.gateSlot).pointee.load(ordering: .acquiring) & Self.resizingBit != 0, "writers are excluded while cutting")
        assert(newLength <= oldExtent)
        word(Self.lengthSlot).pointee.store(newLength, ordering: .sequentiallyConsistent)
        let inPage = newLength & pageMask
        if inPage != 0, let page = table.page(at: newLength >> pageShift) {
            // Keep I4: bytes past the end of file read as zeros, also after a
            // later extension. At most one page, and never on the write path.
            let pageStart = newLength - inPage
            let dirtyEnd = min(pageBytes, oldExtent - pageStart)
            memset(pool.address(of: page) + inPage, 0, dirtyEnd - inPage)
        }
        var chainHead: PagePool.PageIndex?
        var retired = 0
        var holes = 0
        for index in pagesCovering(newLength) ..< pagesCovering(oldExtent) {
            if let page = table.unpublish(at: index) {
                chainHead = pool.chain(page, before: chainHead)
                retired += 1
            } else {
                holes += 1
            }
        }
        pool.unreserve(pages: holes)
        word(Self.extentSlot).pointee.store(newLength, ordering: .releasing)
        let (_, allocated) = word(Self.allocatedSlot).pointee.wrappingSubtract(retired, ordering: .acquiringAndReleasing)
        assert(allocated >= 0, "allocated page count went negative")
        return (chainHead, retired)
    }
}
