import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Writing: W2-W5 of the protocol described at the top of PagedFile.swift;
// W1 and W6 are in PagedFile+WriterGate.swift.

extension PagedFile {
    // MARK: Write

    /// Copies `buffer` into the file at `offset`, extending the file if the
    /// write ends past end of file (a gap reads as zeros).
    ///
    /// Lock-free against readers and other writers; waits only while a
    /// truncation or close of this file is excluding writers. The new length
    /// is published after the data. A zero-byte write changes nothing.
    ///
    /// - Throws: `invalidArgument` for a negative offset or an overflowing
    ///   end; `outOfSpace` if the extension cannot be reserved (nothing is
    ///   written then); `closed` after `close()`.
    /// - Complexity: O(buffer.count), one memcpy per run of adjacent pages;
    ///   O(pages) compare-and-swaps for holes.
    public func write(at offset: Int, from buffer: UnsafeRawBufferPointer) throws(PagedFileError) {
        guard offset >= 0 else { throw .invalidArgument("offset is negative") }
        let (end, overflow) = offset.addingReportingOverflow(buffer.count)
        guard !overflow else { throw .invalidArgument("offset + count overflows") }
        guard end <= lengthMax || buffer.count == 0 else { throw .outOfSpace }
        if offset < lengthMax {
            // The page-table slot of a random offset is usually out of the
            // near caches (a 256 MiB file's table is 32 KiB, swept out by the
            // copies): start loading it now, so that the miss overlaps the
            // gate and the previous copy's store drain instead of following
            // them. A hint, not a load of the slot: W3 still loads it after W1.
            lookup.prefetch(at: offset &>> pageShift)
        }
        let ticket = try enterWriter()                                      // W1
        defer { exitWriter(ticket) }                                        // W6
        guard buffer.count > 0, let source = buffer.baseAddress else { return }
        try reserveExtent(upTo: end)                                        // W2
        copyIn(at: offset, count: buffer.count, from: source)               // W3, W4
        publishLength(atLeast: end)                                         // W5
    }

    @inline(__always)
    private func copyIn(at offset: Int, count: Int, from source: UnsafeRawPointer) {
        let firstInPage = offset & pageMask
        if firstInPage &+ count <= pageBytes {
            // Inside one page (every small write): one lookup, one copy.
            let (page, isCold) = pageForWriting(offset &>> pageShift)
            let destination = page + firstInPage
            #if DEBUG
            if let hook = writeHookBeforeCopy { hook() }
            #endif
            copyRun(to: destination, from: source, count: count, isCold: isCold)
            return
        }
        var done = 0
        var runDestination: UnsafeMutableRawPointer?
        var runStart = 0
        var runBytes = 0
        var runIsCold = false
        while done < count {
            let position = offset + done
            let inPage = position & pageMask
            let chunk = min(pageBytes - inPage, count - done)
            let (page, isCold) = pageForWriting(position &>> pageShift)
            let destination = page + inPage
            #if DEBUG
            if done == 0, let hook = writeHookBeforeCopy { hook() }
            #endif
            if let runDestination, runDestination + runBytes == destination {
                runBytes += chunk
                runIsCold = runIsCold || isCold
            } else {
                if let runDestination {
                    copyRun(to: runDestination, from: source + runStart, count: runBytes, isCold: runIsCold)
                }
                runDestination = destination
                runStart = done
                runBytes = chunk
                runIsCold = isCold
            }
            done += chunk
        }
        if let runDestination {
            copyRun(to: runDestination, from: source + runStart, count: runBytes, isCold: runIsCold)
        }
    }

    /// Writes below this size into a cold page are left to fault: the
    /// system call would save at most a fault or two.
    private static let populateBytesMin = 16 << 10

    /// W4 for one run of adjacent pages. A run into pages this write rented
    /// cold is faulted in first with one system call: the kernel then
    /// allocates and zeroes its base pages in one pass instead of taking one
    /// page fault per 4 KiB during the copy.
    @inline(__always)
    private func copyRun(to destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int, isCold: Bool) {
        if isCold && count >= Self.populateBytesMin {
            VirtualMemory.populateForWriting(destination, byteCount: count)
        }
        memcpy(destination, source, count)
    }

    /// The address of page `index`, publishing a fresh zero page into a hole,
    /// and whether this call rented that page cold (see `PagePool.Rental`).
    @inline(__always)
    private func pageForWriting(_ index: Int) -> (address: UnsafeMutableRawPointer, isCold: Bool) {
        if let page = lookup.page(at: index) { return (addressing.address(of: page), false) }
        return publishFreshPage(at: index)
    }

    /// W3 for a hole: rent a zero page and compare-and-swap it into the slot.
    /// If no page is free right now (writers racing for another hole hold
    /// pages they are about to give back), re-read the slot and retry.
    private func publishFreshPage(at index: Int) -> (address: UnsafeMutableRawPointer, isCold: Bool) {
        assert(index < pagesCovering(word(Self.extentSlot).pointee.load(ordering: .relaxed)),
               "writing a page outside the reserved extent")
        var attempts = 0
        while true {
            if let fresh = pool.tryRentPage() {
                let (won, page) = table.publish(fresh.page, at: index)
                if won {
                    word(Self.allocatedSlot).pointee.wrappingAdd(1, ordering: .relaxed)
                    return (addressing.address(of: page), fresh.isCold)
                }
                pool.returnUnused(fresh.page)
                return (addressing.address(of: page), false)
            }
            if let page = lookup.page(at: index) { return (addressing.address(of: page), false) }
            attempts += 1
            assert(attempts < 100_000_000, "no page for a reserved hole")
            sched_yield()
        }
    }

    // MARK: Extension

    /// W2: makes sure capacity is held for every page below `end`.
    @inline(__always)
    func reserveExtent(upTo end: Int) throws(PagedFileError) {
        let extent = word(Self.extentSlot)
        var current = extent.pointee.load(ordering: .acquiring)
        while end > current {
            let missing = pagesCovering(end) - pagesCovering(current)
            if missing > 0 {
                do throws(PagedFileError) {
                    try pool.reserve(pages: missing)
                } catch {
                    // Another writer may have covered us meanwhile.
                    let now = extent.pointee.load(ordering: .acquiring)
                    if now != current { current = now; continue }
                    throw error
                }
            }
            let (exchanged, original) = extent.pointee.compareExchange(
                expected: current, desired: end, ordering: .acquiringAndReleasing)
            if exchanged { return }
            pool.unreserve(pages: missing)
            current = original
        }
    }

    /// W5: length = max(length, end), released after the data.
    @inline(__always)
    func publishLength(atLeast end: Int) {
        let length = word(Self.lengthSlot)
        var current = length.pointee.load(ordering: .relaxed)
        while end > current {
            let (exchanged, original) = length.pointee.compareExchange(
                expected: current, desired: end, ordering: .releasing)
            if exchanged { return }
            current = original
        }
    }
}
