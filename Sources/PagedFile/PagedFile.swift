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
//
// ## Where the steps live
//
//   PagedFile+WriterGate.swift   W1, W6; T2, T5 (admission of writers)
//   PagedFile+Writing.swift      W2-W5
//   PagedFile+Reading.swift      R1-R5
//   PagedFile+Truncation.swift   T1-T7 (setLength shrinking, close; T2, T5
//                                through the writer gate)

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
    let table: PageTable
    /// `table`'s slots and `pool`'s address arithmetic, inline in this object
    /// so that the read and write paths reach a page in the fewest dependent
    /// loads. Valid as long as `table` and `pool`, which this file holds.
    let lookup: PageTable.Lookup
    let addressing: PagePool.Addressing
    let slots = WriterSlots.shared
    /// This file's name in the writer slots; unique in the process.
    let id: UInt
    let epochs = ReaderEpochs()
    let resizeLock = LockedValue<Bool>(false)  // true once closed
    let reclaimLock = ConditionLock()

    let pageBytes: Int
    let pageShift: Int
    let pageMask: Int
    /// The largest length a file can have: the pool's capacity.
    public let lengthMax: Int

    private let words: UnsafeMutablePointer<Atomic<Int>>
    private static let strideWords = 16
    static let gateSlot = 0
    static let lengthSlot = 1
    static let extentSlot = 2
    static let allocatedSlot = 3
    static let closedSlot = 4
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

    static let closedBit = 1 << 62
    static let resizingBit = 1 << 61
    static let countMask = resizingBit - 1

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
    func word(_ slot: Int) -> UnsafeMutablePointer<Atomic<Int>> {
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
    func pagesCovering(_ bytes: Int) -> Int {
        assert(bytes >= 0)
        return (bytes + pageMask) &>> pageShift
    }
}
