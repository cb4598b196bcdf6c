import JournalPrimitives
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// # The RAM-backed data file
//
// A `PagedFile` is a sparse file of fixed-size pages rented from a shared
// `PagePool`. Holes read as zeros. Readers and writers run concurrently and
// never copy data under an exclusive lock.
//
// ## State
//
//   table[i]        page-table slot i: 0 (hole) or page + 1      (PageTable)
//   length          the published length; readers clamp to it
//   extent          the reserved length: capacity for every page below
//                   ceil(extent / pageBytes) is held in the pool, either as a
//                   rented page in the table or as a reservation for a hole
//   allocatedPages  pages published in the table
//   gate            writer admission word: closed bit | resizing bit | count
//                   of writers that entered through it (the fallback)
//   writer slots    per-thread words naming the file a thread is writing
//                   (WriterSlots.swift): the fast way in, no locked RMW
//   epochs          reader epochs (Reclamation.swift)
//   resizeLock      serializes truncation and close (never held while copying)
//
// ## Write (`write(at:from:)`, also `setLength` growing)
//
//   W1 enter: announce the file id in the thread's slot (W1a, a plain
//      store), compiler barrier (W1b), load the gate (W1c); if resizing, clear
//      the slot and wait for the resize lock; if closed, clear it and throw
//      `closed`. Fallback (no membarrier, no free slot, nested write): fetch-
//      add the gate's count, same checks, back out with a fetch-sub.
//   W2 if end > extent: reserve the missing pages in the pool (capacity CAS,
//      throws `outOfSpace` before anything changed), then CAS extent to end;
//      on a lost CAS give the reservation back and retry.
//   W3 for each page of the range: load the slot; if a hole, rent a zero page
//      and CAS it into the slot; the loser gives its untouched page back and
//      uses the winner's page. The rented page is covered by the hole's
//      reservation, so the capacity counter does not move. Writers racing
//      for one hole hold several pages for one reservation until the losers
//      give theirs back; a writer that finds no free page meanwhile re-reads
//      its slot and retries (it never waits for a lock, only for the racers'
//      next step).
//   W4 copy the data, one memcpy per run of pages that are adjacent in memory;
//      a run that holds pages this write rented cold (never touched, or
//      trimmed) is first faulted in with one madvise (no effect on contents).
//   W5 publish the length: CAS length to max(length, end), after the data.
//   W6 leave: store 0 in the slot (release); fallback: fetch-sub the count.
//
// ## Read (`read(at:into:)`)
//
//   R1 enter the epoch (load epoch, increment its parity's count, reload).
//   R2 if closed, leave and throw `closed`.
//   R3 load length; clamp the request (short count past end-of-file).
//   R4 for each page: load the slot; copy from the page, or zeros for a hole.
//   R5 leave the epoch.
//
// ## Truncate (`setLength` shrinking) and close
//
//   T1 take the resize lock.
//   T2 set the resizing bit (close: also the closed bit) (T2a, fetch-or);
//      membarrier (T2b); wait while any thread's slot holds this file's id
//      (T2c); wait for the gate count to drain (T2d). No writer is inside
//      afterwards, and new ones wait. Why membarrier makes the plain stores
//      of W1a enough: WriterSlots.swift.
//   T3 store the new length (readers clamp from now on), zero the tail of the
//      page that holds the new end of file.
//   T4 exchange every slot at or past the new end's page with 0, chaining
//      the pages; count the holes. Give the holes' reservations back, store
//      the new extent and the new allocated count.
//   T5 clear the resizing bit and release the resize lock: writers go on
//      while we wait below.
//   T6 under the reclaim lock (one reclaimer at a time), synchronize the
//      epochs: wait for every reader that might have loaded a slot emptied in
//      T4. Writers cannot hold such a page: T2 drained them.
//   T7 zero the chained pages, push them on the free list, then give their
//      capacity back.
//
// ## Invariants (asserted here, checked by the tests and the Promela model)
//
//   I1 capacity: pool.committed = Σ over files of ceil(extent / pageBytes)
//      + pages waiting in T6-T7, and committed <= capacity at every step.
//   I2 no leak: free pages + never-touched pages + rented pages = capacity.
//   I3 no use after free: a page goes back to the pool only after every
//      reader and writer that could have reached it has left (T2, T6).
//   I4 zeros past end: every byte of a page at or past `extent` is zero; at
//      quiescence extent == length.
//   I5 isolation: a page is in at most one slot of one file; a page given
//      back is zeroed before anyone can rent it again.
//   I6 no lost write: a published page is never replaced while writers are
//      admitted; only T4 empties slots, and only with writers excluded.
//   I7 length after data: a reader that sees length L (acquire) sees every
//      slot and byte published before the writer's W5 release.

/// A sparse, RAM-backed file of pages rented from a `PagePool`.
///
/// Thread safety: every method may be called from any number of threads at
/// once. Non-overlapping concurrent writes are all kept; overlapping ones
/// leave each byte from one of the writers. A read concurrent with a write or
/// truncation of the same bytes sees, for each byte, its value before or after.
public final class PagedFile: @unchecked Sendable {
    // @unchecked: mutable state is atomics, raw memory handed over by those
    // atomics, and state behind `resizeLock`.

    /// The pool this file rents its pages from.
    public let pool: PagePool
    private let table: PageTable
    /// `table`'s slots and `pool`'s address arithmetic, inline in this object
    /// so that the read and write paths reach a page in the fewest dependent
    /// loads. Valid as long as `table` and `pool`, which this file holds.
    private let lookup: PageTable.Lookup
    private let addressing: PagePool.Addressing
    private let slots = WriterSlots.shared
    /// This file's name in the writer slots; unique in the process.
    private let id: UInt
    private let epochs = ReaderEpochs()
    private let resizeLock = LockedValue<Bool>(false)  // true once closed
    private let reclaimLock = ConditionLock()

    private let pageBytes: Int
    private let pageShift: Int
    private let pageMask: Int
    /// The largest length a file can have: the pool's capacity.
    public let lengthMax: Int

    private let words: UnsafeMutablePointer<Atomic<Int>>
    private static let strideWords = 16
    private static let gateSlot = 0
    private static let lengthSlot = 1
    private static let extentSlot = 2
    private static let allocatedSlot = 3
    private static let closedSlot = 4
    private static let slotCount = 5

    #if DEBUG
    /// Test seam: runs inside `read` after the first page-table slot was
    /// loaded and before any byte is copied. Set before sharing the file.
    var readHookAfterSlotLoad: (@Sendable () -> Void)?
    /// Test seam: runs inside `write` after the first page was resolved and
    /// before any byte is copied. Set before sharing the file.
    var writeHookBeforeCopy: (@Sendable () -> Void)?
    /// Test seam: writers enter through the gate's count, as they do on a
    /// kernel without membarrier. Set before sharing the file.
    var writersUseCount = false
    #endif

    private static let closedBit = 1 << 62
    private static let resizingBit = 1 << 61
    private static let countMask = resizingBit - 1

    /// Creates an empty file (length 0) over `pool`.
    ///
    /// - Throws: `mapFailed` if the page table's virtual range cannot be mapped.
    /// - Complexity: O(1); the page table is reserved, not touched.
    public init(pool: PagePool) throws(PagedFileError) {
        self.pool = pool
        self.table = try PageTable(slotCount: pool.pageCapacity)
        self.lookup = table.lookup
        self.addressing = pool.addressing
        self.pageBytes = pool.pageBytes
        self.pageShift = pool.pageShift
        self.pageMask = pool.pageBytes - 1
        self.lengthMax = pool.capacityBytes
        self.id = WriterSlots.shared.newFileID()
        words = .allocate(capacity: Self.slotCount * Self.strideWords)
        for i in 0 ..< Self.slotCount * Self.strideWords { (words + i).initialize(to: Atomic(0)) }
    }

    deinit {
        close()
        words.deinitialize(count: Self.slotCount * Self.strideWords)
        words.deallocate()
    }

    @inline(__always)
    private func word(_ slot: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        words + slot * Self.strideWords
    }

    // MARK: Getters

    /// The published length in bytes. Lock-free; every byte below it that was
    /// written was written before the length covering it was published.
    /// - Complexity: O(1).
    public var length: Int { word(Self.lengthSlot).pointee.load(ordering: .acquiring) }

    /// Bytes of pages published in the page table. Lock-free snapshot.
    /// - Complexity: O(1).
    public var allocatedBytes: Int { word(Self.allocatedSlot).pointee.load(ordering: .acquiring) * pageBytes }

    /// Whether `close()` has run. Lock-free.
    /// - Complexity: O(1).
    public var isClosed: Bool { word(Self.closedSlot).pointee.load(ordering: .acquiring) != 0 }

    /// Bytes of capacity held by this file (its pages plus reservations for
    /// its holes below the length). Lock-free snapshot.
    /// - Complexity: O(1).
    public var reservedBytes: Int { pagesCovering(word(Self.extentSlot).pointee.load(ordering: .acquiring)) * pageBytes }

    @inline(__always)
    private func pagesCovering(_ bytes: Int) -> Int {
        assert(bytes >= 0)
        return (bytes + pageMask) &>> pageShift
    }

    // MARK: Read

    /// Copies bytes at `offset` into `buffer`, stopping at end of file.
    ///
    /// Lock-free: never waits for writers, truncation or close. Holes read as
    /// zeros. A read concurrent with a write or truncation of the same range
    /// sees each byte before or after that operation.
    ///
    /// - Returns: the number of bytes copied: `min(buffer.count, length - offset)`,
    ///   or 0 at or past end of file.
    /// - Throws: `invalidArgument` for a negative offset, `closed` after `close()`.
    /// - Complexity: O(buffer.count), one memcpy per run of adjacent pages.
    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(PagedFileError) -> Int {
        guard offset >= 0 else { throw .invalidArgument("offset is negative") }
        let token = epochs.enter()                                          // R1
        defer { epochs.exit(token) }                                        // R5
        if word(Self.closedSlot).pointee.load(ordering: .sequentiallyConsistent) != 0 {  // R2
            throw .closed
        }
        let fileLength = word(Self.lengthSlot).pointee.load(ordering: .acquiring)         // R3
        guard offset < fileLength, buffer.count > 0, let destination = buffer.baseAddress else { return 0 }
        let count = min(buffer.count, fileLength - offset)
        assert(count > 0 && offset + count <= lengthMax)
        copyOut(from: offset, count: count, to: destination)                // R4
        return count
    }

    @inline(__always)
    private func copyOut(from offset: Int, count: Int, to destination: UnsafeMutableRawPointer) {
        var done = 0
        // The pending run: `runSource == nil` with runBytes > 0 is a run of holes.
        var runSource: UnsafeMutableRawPointer?
        var runStart = 0
        var runBytes = 0
        while done < count {
            let position = offset + done
            let inPage = position & pageMask
            let chunk = min(pageBytes - inPage, count - done)
            let source = lookup.page(at: position &>> pageShift).map { addressing.address(of: $0) + inPage }
            #if DEBUG
            if done == 0, let hook = readHookAfterSlotLoad { hook() }
            #endif
            let extends: Bool
            if runBytes == 0 {
                extends = false
            } else if let runSource, let source {
                extends = runSource + runBytes == source
            } else {
                extends = runSource == nil && source == nil
            }
            if extends {
                runBytes += chunk
            } else {
                flushRead(runSource, bytes: runBytes, to: destination + runStart)
                runSource = source
                runStart = done
                runBytes = chunk
            }
            done += chunk
        }
        flushRead(runSource, bytes: runBytes, to: destination + runStart)
    }

    @inline(__always)
    private func flushRead(_ source: UnsafeMutableRawPointer?, bytes: Int, to destination: UnsafeMutableRawPointer) {
        guard bytes > 0 else { return }
        if let source {
            memcpy(destination, source, bytes)
        } else {
            memset(destination, 0, bytes)
        }
    }

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

    // MARK: Writer gate

    /// How a writer got in: through its thread's slot, or through the count.
    struct WriterTicket {
        let slot: UnsafeMutablePointer<Atomic<UInt>>?
    }

    /// W1. Fast path: the thread's slot (no locked instruction); fallback:
    /// the gate's count.
    @inline(__always)
    private func enterWriter() throws(PagedFileError) -> WriterTicket {
        #if DEBUG
        if writersUseCount {
            try enterThroughCount()
            return WriterTicket(slot: nil)
        }
        #endif
        if let slot = slots.currentSlot(), slot.pointee.load(ordering: .relaxed) == 0 {
            try enterThroughSlot(slot)
            return WriterTicket(slot: slot)
        }
        try enterThroughCount()
        return WriterTicket(slot: nil)
    }

    @inline(__always)
    private func enterThroughSlot(_ slot: UnsafeMutablePointer<Atomic<UInt>>) throws(PagedFileError) {
        let gate = word(Self.gateSlot)
        while true {
            WriterSlots.announce(slot, file: id)                            // W1a, W1b
            let state = gate.pointee.load(ordering: .acquiring)             // W1c
            if state & (Self.closedBit | Self.resizingBit) == 0 { return }
            WriterSlots.leave(slot)
            if state & Self.closedBit != 0 { throw .closed }
            // A resizer holds the lock while the bit is set: wait for it.
            resizeLock.withLock { _ in }
        }
    }

    private func enterThroughCount() throws(PagedFileError) {
        let gate = word(Self.gateSlot)
        while true {
            let (old, _) = gate.pointee.wrappingAdd(1, ordering: .acquiringAndReleasing)
            if old & (Self.closedBit | Self.resizingBit) == 0 { return }
            gate.pointee.wrappingSubtract(1, ordering: .releasing)
            if old & Self.closedBit != 0 { throw .closed }
            resizeLock.withLock { _ in }
        }
    }

    @inline(__always)
    private func exitWriter(_ ticket: WriterTicket) {
        if let slot = ticket.slot {
            WriterSlots.leave(slot)
            return
        }
        let (_, after) = word(Self.gateSlot).pointee.wrappingSubtract(1, ordering: .releasing)
        assert(after & Self.countMask != Self.countMask, "writer gate count went negative")
    }

    /// T2: keeps new writers out and waits for the ones inside.
    private func excludeWriters(closing: Bool) {
        let gate = word(Self.gateSlot)
        let bits = Self.resizingBit | (closing ? Self.closedBit : 0)
        gate.pointee.bitwiseOr(bits, ordering: .sequentiallyConsistent)      // T2a
        slots.waitForWriters(of: id)                                        // T2b, T2c
        var spins = 0
        while gate.pointee.load(ordering: .acquiring) & Self.countMask != 0 {   // T2d
            spins += 1
            if spins > 64 { sched_yield() }
        }
    }

    private func admitWriters() {
        word(Self.gateSlot).pointee.bitwiseAnd(~Self.resizingBit, ordering: .releasing)
    }

    // MARK: Extension

    /// W2: makes sure capacity is held for every page below `end`.
    @inline(__always)
    private func reserveExtent(upTo end: Int) throws(PagedFileError) {
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
    private func publishLength(atLeast end: Int) {
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
