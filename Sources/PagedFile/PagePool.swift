import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fixed-capacity pool of equal-sized pages, shared by many paged files.
///
/// Memory comes from a few large anonymous mappings ("arenas") made once at
/// initialization; no page is ever allocated on its own. A page is named by
/// its index (`PageIndex`, `0 ..< pageCapacity`).
///
/// ## Accounting
/// One counter, `committedPages`, holds rented plus reserved pages and is the
/// only thing checked against the capacity. Every way to obtain capacity goes
/// through `reserve(pages:)`, including reuse of free-listed pages: renting
/// (`tryRent()`) only turns one of the caller's reserved pages into a rented one
/// and never changes the counter. Pages retired by a file stay counted until
/// they are back on the free list (`release(chain:)`), so the counter can never
/// promise a page that is still in use or waiting for readers to leave.
///
/// ## Free pages
/// Never-touched pages are handed out by a bump index (`bumpNext`); they read
/// as zeros because the kernel zero-fills fresh anonymous memory. Returned
/// pages are zeroed by the returning thread (outside any lock, after the
/// readers' grace period) and pushed on a sharded Treiber stack: `shardCount`
/// heads on separate cache lines, each a 64-bit word holding a 32-bit version
/// tag above a 32-bit "page index + 1", so a stale compare-and-swap fails
/// instead of corrupting the stack (no ABA). `trim()` gives the memory of free
/// pages back to the kernel with `madvise(MADV_DONTNEED)`.
///
/// Invariant (checked in tests at quiescence): pages on the free lists plus
/// never-touched pages plus rented pages equal `pageCapacity`; rented pages
/// never exceed `committedPages`, which never exceeds `pageCapacity`.
public final class PagePool: @unchecked Sendable {
    // @unchecked: all mutable state is reached through atomics or raw memory
    // whose ownership is handed between threads by those atomics.

    typealias PageIndex = UInt32

    /// The size of one page in bytes: a power of two from 4 KiB to 2 MiB.
    public let pageBytes: Int
    /// The number of pages the pool holds.
    public let pageCapacity: Int
    /// `pageCapacity * pageBytes`.
    public var capacityBytes: Int { pageCapacity * pageBytes }

    let pageShift: Int
    static let pageBytesMin = 4 << 10
    static let pageBytesMax = 2 << 20
    /// The page size of a pool made without one: 64 KiB.
    public static let pageBytesDefault = 64 << 10
    /// The largest arena; bigger pools use several.
    static let arenaBytesMax = 1 << 30
    static let shardCount = 8
    static let shardBits = 3
    /// Atomic slots are spread this many words apart (128 bytes: two cache
    /// lines, which defeats the adjacent-line prefetcher).
    static let slotStrideWords = 16

    private let arenaShift: Int
    private let arenaMask: Int
    private let arenaBytes: Int
    private let arenaCount: Int
    private let arenaBases: UnsafeMutablePointer<UnsafeMutableRawPointer>

    /// Free-list links: `next[i]` is "index + 1" of the page below page `i`.
    let next: UnsafeMutablePointer<Atomic<UInt32>>
    /// `shardCount` tagged heads, `slotStrideWords` words apart.
    private let heads: UnsafeMutablePointer<Atomic<UInt64>>
    private let counters: UnsafeMutablePointer<Atomic<Int>>
    /// Per page, 1 while its memory may not be resident: never touched since
    /// the pool mapped it, or given back to the kernel by `trim()`. Read and
    /// written only by the thread that owns the page (on no free list), so
    /// the free list's compare-and-swaps order the accesses.
    let coldFlags: UnsafeMutablePointer<UInt8>
    private static let committedSlot = 0
    private static let rentedSlot = 1
    private static let bumpSlot = 2
    private static let counterSlots = 3

    /// Creates a pool of `capacityBytes` (rounded down to whole pages).
    ///
    /// - Parameters:
    ///   - capacityBytes: the capacity; at least one page.
    ///   - pageBytes: a power of two from 4096 to 2 MiB, 64 KiB by default.
    /// - Throws: `invalidArgument` for a bad size, `mapFailed` if the kernel
    ///   refuses the virtual memory.
    /// - Complexity: O(number of arenas); the memory is only reserved, not touched.
    public init(capacityBytes: Int, pageBytes: Int = PagePool.pageBytesDefault) throws(PagedFileError) {
        guard pageBytes >= Self.pageBytesMin, pageBytes <= Self.pageBytesMax,
              pageBytes.nonzeroBitCount == 1
        else { throw .invalidArgument("pageBytes must be a power of two from 4 KiB to 2 MiB") }
        guard capacityBytes >= pageBytes else {
            throw .invalidArgument("capacityBytes must hold at least one page")
        }
        let pages = capacityBytes / pageBytes
        guard pages < Int(UInt32.max) else { throw .invalidArgument("capacityBytes holds too many pages") }
        self.pageBytes = pageBytes
        self.pageCapacity = pages
        self.pageShift = pageBytes.trailingZeroBitCount
        let capacity = pages * pageBytes
        self.arenaBytes = min(Self.arenaBytesMax, capacity)
        // arenaBytes is a power of two times pageBytes only when it is the max;
        // a single smaller arena needs no shift, so size the shift on the max.
        self.arenaShift = (Self.arenaBytesMax / pageBytes).trailingZeroBitCount
        self.arenaMask = (1 << arenaShift) - 1
        self.arenaCount = (capacity + Self.arenaBytesMax - 1) / Self.arenaBytesMax
        assert(arenaCount >= 1)

        arenaBases = .allocate(capacity: arenaCount)
        next = .allocate(capacity: pages)
        heads = .allocate(capacity: Self.shardCount * Self.slotStrideWords)
        counters = .allocate(capacity: Self.counterSlots * Self.slotStrideWords)
        coldFlags = .allocate(capacity: pages)
        coldFlags.initialize(repeating: 1, count: pages)
        for i in 0 ..< pages { (next + i).initialize(to: Atomic(0)) }
        for i in 0 ..< Self.shardCount * Self.slotStrideWords { (heads + i).initialize(to: Atomic(0)) }
        for i in 0 ..< Self.counterSlots * Self.slotStrideWords { (counters + i).initialize(to: Atomic(0)) }

        var mapped = 0
        var failure: PagedFileError?
        while mapped < arenaCount {
            let bytes = min(Self.arenaBytesMax, capacity - mapped * Self.arenaBytesMax)
            do throws(PagedFileError) {
                let base = try VirtualMemory.map(byteCount: bytes)
                (arenaBases + mapped).initialize(to: base)
                mapped += 1
            } catch {
                failure = error
                break
            }
        }
        if let failure {
            for a in 0 ..< mapped { VirtualMemory.unmap(arenaBases[a], byteCount: arenaBytesOf(a)) }
            releaseBookkeeping(initializedArenas: 0)
            throw failure
        }
    }

    deinit {
        // A pool outlives its files (each file holds a strong reference), so
        // every page is back: the pool is whole.
        assert(rentedPages == 0, "pool destroyed with rented pages")
        assert(counter(Self.committedSlot).pointee.load(ordering: .relaxed) == 0, "pool destroyed with reservations")
        for a in 0 ..< arenaCount { VirtualMemory.unmap(arenaBases[a], byteCount: arenaBytesOf(a)) }
        releaseBookkeeping(initializedArenas: arenaCount)
    }

    private func releaseBookkeeping(initializedArenas: Int) {
        arenaBases.deinitialize(count: initializedArenas)
        arenaBases.deallocate()
        next.deinitialize(count: pageCapacity)
        next.deallocate()
        heads.deinitialize(count: Self.shardCount * Self.slotStrideWords)
        heads.deallocate()
        counters.deinitialize(count: Self.counterSlots * Self.slotStrideWords)
        counters.deallocate()
        coldFlags.deinitialize(count: pageCapacity)
        coldFlags.deallocate()
    }

    private func arenaBytesOf(_ arena: Int) -> Int {
        min(Self.arenaBytesMax, capacityBytes - arena * Self.arenaBytesMax)
    }

    @inline(__always)
    private func counter(_ slot: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        counters + slot * Self.slotStrideWords
    }

    @inline(__always)
    func head(_ shard: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        heads + shard * Self.slotStrideWords
    }

    // MARK: Public figures

    /// Rented plus reserved bytes: the figure checked against the capacity.
    ///
    /// Lock-free; a snapshot that may be stale by the time it returns.
    /// - Complexity: O(1).
    public var committedBytes: Int { counter(Self.committedSlot).pointee.load(ordering: .acquiring) * pageBytes }

    /// Bytes of pages currently out of the free lists: published in a file,
    /// waiting for readers to leave, or briefly held by a writer.
    ///
    /// Lock-free snapshot.
    /// - Complexity: O(1).
    public var rentedBytes: Int { rentedPages * pageBytes }

    /// Capacity that a new reservation could still take.
    ///
    /// Lock-free snapshot.
    /// - Complexity: O(1).
    public var availableBytes: Int { capacityBytes - committedBytes }

    var rentedPages: Int { counter(Self.rentedSlot).pointee.load(ordering: .acquiring) }
    var committedPages: Int { counter(Self.committedSlot).pointee.load(ordering: .acquiring) }

    // MARK: Addresses

    /// The address of a page. Pure arithmetic on the arena table.
    @inline(__always)
    func address(of page: PageIndex) -> UnsafeMutableRawPointer {
        addressing.address(of: page)
    }

    /// The constants of `address(of:)`, for a holder of the pool to keep
    /// inline (the file's read and write paths), so that computing an
    /// address loads neither the pool nor its fields first. Valid while the
    /// pool lives.
    struct Addressing {
        let arenaBases: UnsafeMutablePointer<UnsafeMutableRawPointer>
        let arenaShift: Int
        let arenaMask: Int
        let pageShift: Int
        let pageCapacity: Int

        @inline(__always)
        func address(of page: PageIndex) -> UnsafeMutableRawPointer {
            let index = Int(page)
            assert(index < pageCapacity)
            return arenaBases[index &>> arenaShift] + ((index & arenaMask) &<< pageShift)
        }
    }

    var addressing: Addressing {
        Addressing(arenaBases: arenaBases, arenaShift: arenaShift, arenaMask: arenaMask,
                   pageShift: pageShift, pageCapacity: pageCapacity)
    }

    // MARK: Capacity

    /// Takes `pages` of capacity, or throws `outOfSpace` and takes nothing.
    /// Lock-free compare-and-swap loop on the capacity counter.
    func reserve(pages: Int) throws(PagedFileError) {
        assert(pages > 0)
        let committed = counter(Self.committedSlot)
        var current = committed.pointee.load(ordering: .relaxed)
        while true {
            assert(current >= 0 && current <= pageCapacity)
            guard pages <= pageCapacity - current else { throw .outOfSpace }
            let (exchanged, original) = committed.pointee.compareExchange(
                expected: current, desired: current + pages, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    /// Gives back `pages` of capacity taken by `reserve(pages:)` and not rented.
    func unreserve(pages: Int) {
        assert(pages >= 0)
        guard pages > 0 else { return }
        let (_, after) = counter(Self.committedSlot).pointee.wrappingSubtract(pages, ordering: .acquiringAndReleasing)
        assert(after >= 0, "capacity counter went negative")
    }

    // MARK: Renting

    /// Takes one zero-filled page against a reservation the caller holds,
    /// or returns nil if no page is free at this instant.
    ///
    /// Free-listed pages first (they are resident), then never-touched ones.
    /// The caller's reservation does not guarantee a page at every instant:
    /// writers racing to fill the same hole each hold a page for one
    /// reservation until the losers give theirs back, and `trim()` holds free
    /// pages briefly. The caller (`PagedFile`) therefore re-reads its slot and
    /// retries; the model checks that this always makes progress.
    /// - Complexity: O(shards) compare-and-swaps at most; lock-free.
    func tryRent() -> PageIndex? {
        tryRentPage()?.page
    }

    /// A rented page, and whether its memory may still have to come from the
    /// kernel: never touched since the pool mapped it, or trimmed since. A
    /// writer about to fill much of a cold page can fault it in with one
    /// system call (`VirtualMemory.populateForWriting`) instead of one page
    /// fault per base page.
    struct Rental {
        let page: PageIndex
        let isCold: Bool
    }

    /// `tryRent()`, also telling whether the page is cold.
    @inline(__always)
    func tryRentPage() -> Rental? {
        let home = VirtualMemory.threadHash(bits: Self.shardBits)
        for k in 0 ..< Self.shardCount {
            if let page = pop(shard: (home + k) & (Self.shardCount - 1)) {
                counter(Self.rentedSlot).pointee.wrappingAdd(1, ordering: .relaxed)
                return Rental(page: page, isCold: coldFlags[Int(page)] != 0)
            }
        }
        if let page = bump() {
            counter(Self.rentedSlot).pointee.wrappingAdd(1, ordering: .relaxed)
            assert(coldFlags[Int(page)] != 0, "a never-rented page is marked resident")
            return Rental(page: page, isCold: true)
        }
        return nil
    }

    /// Puts back a page that was rented but never published or written (the
    /// loser of a publish race). The caller keeps its reservation.
    func returnUnused(_ page: PageIndex) {
        push(chainHead: page, chainTail: page, shard: VirtualMemory.threadHash(bits: Self.shardBits))
        counter(Self.rentedSlot).pointee.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: Retired chains

    /// Links `page` in front of a chain of retired pages, using the free-list
    /// link of the page (a retired page is on no list). Returns the new head.
    func chain(_ page: PageIndex, before head: PageIndex?) -> PageIndex {
        next[Int(page)].store(head.map { $0 + 1 } ?? 0, ordering: .relaxed)
        return page
    }

    /// Zeroes every page of a retired chain, puts them on a free list and
    /// gives their capacity back. Call only once no reader or writer can touch
    /// them (after the grace period); runs outside any lock.
    ///
    /// The chain goes on the list in ascending page order, so that a writer
    /// filling consecutive holes rents pages that are adjacent in the arena
    /// and copies a large write in one memcpy (and the kernel sees one
    /// sequential run of first-touch faults after a trim), instead of one
    /// copy per page in whatever order the file held them.
    /// - Complexity: O(pages × pageBytes) for the zeroing, O(pages × log pages)
    ///   link updates for the ordering; no allocation.
    func release(chain head: PageIndex?, count: Int) {
        guard let head else { assert(count == 0); return }
        let (first, last) = sortChain(head)
        var page = first
        var seen = 1
        var previous = first
        memset(address(of: page), 0, pageBytes)
        coldFlags[Int(page)] = 0
        while true {
            let link = next[Int(page)].load(ordering: .relaxed)
            if link == 0 { break }
            page = link - 1
            assert(page > previous, "a sorted chain is not ascending")
            previous = page
            memset(address(of: page), 0, pageBytes)
            coldFlags[Int(page)] = 0
            seen += 1
        }
        assert(seen == count, "retired chain length mismatch")
        assert(page == last)
        // Pages first, capacity second: whoever sees the capacity free also
        // finds the pages on a list.
        push(chainHead: first, chainTail: last, shard: VirtualMemory.threadHash(bits: Self.shardBits))
        counter(Self.rentedSlot).pointee.wrappingSubtract(count, ordering: .relaxed)
        unreserve(pages: count)
    }

    /// Sorts a chain of pages owned by the caller (on no list) by index,
    /// through the free-list links: a bottom-up merge sort of the linked list,
    /// O(n log n) steps and no memory. Returns the new head and tail.
    private func sortChain(_ head: PageIndex) -> (head: PageIndex, tail: PageIndex) {
        // Links hold "index + 1"; 0 ends a list. Comparing links compares indices.
        @inline(__always) func link(_ encoded: UInt32) -> UInt32 { next[Int(encoded - 1)].load(ordering: .relaxed) }
        @inline(__always) func setLink(_ encoded: UInt32, _ value: UInt32) { next[Int(encoded - 1)].store(value, ordering: .relaxed) }
        var list = head + 1
        var width = 1
        while true {
            var p = list
            list = 0
            var tail: UInt32 = 0
            var merges = 0
            while p != 0 {
                merges += 1
                // Split off the next two runs of up to `width` pages: p and q.
                var q = p
                var pSize = 0
                while pSize < width && q != 0 {
                    pSize += 1
                    q = link(q)
                }
                var qSize = width
                while pSize > 0 || (qSize > 0 && q != 0) {
                    let taken: UInt32
                    if pSize > 0 && (qSize == 0 || q == 0 || p <= q) {
                        taken = p
                        p = link(p)
                        pSize -= 1
                    } else {
                        taken = q
                        q = link(q)
                        qSize -= 1
                    }
                    if tail == 0 { list = taken } else { setLink(tail, taken) }
                    tail = taken
                }
                p = q
            }
            assert(tail != 0)
            setLink(tail, 0)
            if merges <= 1 { return (list - 1, tail - 1) }
            width *= 2
        }
    }

    // MARK: Treiber stacks

    @inline(__always)
    private func pop(shard: Int) -> PageIndex? {
        let h = head(shard)
        var current = h.pointee.load(ordering: .acquiring)
        while true {
            let top = UInt32(truncatingIfNeeded: current)
            if top == 0 { return nil }
            // The link may be stale if another thread popped `top` meanwhile;
            // the version tag then makes the exchange below fail.
            let below = next[Int(top - 1)].load(ordering: .relaxed)
            let desired = ((current >> 32) &+ 1) << 32 | UInt64(below)
            let (exchanged, original) = h.pointee.compareExchange(
                expected: current, desired: desired, ordering: .acquiringAndReleasing)
            if exchanged { return top - 1 }
            current = original
        }
    }

    func push(chainHead: PageIndex, chainTail: PageIndex, shard: Int) {
        let h = head(shard)
        var current = h.pointee.load(ordering: .relaxed)
        while true {
            next[Int(chainTail)].store(UInt32(truncatingIfNeeded: current), ordering: .relaxed)
            let desired = ((current >> 32) &+ 1) << 32 | UInt64(chainHead + 1)
            let (exchanged, original) = h.pointee.compareExchange(
                expected: current, desired: desired, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    private func bump() -> PageIndex? {
        let b = counter(Self.bumpSlot)
        var current = b.pointee.load(ordering: .relaxed)
        while current < pageCapacity {
            let (exchanged, original) = b.pointee.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return PageIndex(current) }
            current = original
        }
        return nil
    }

    // MARK: Test support

    /// Counts free-listed and never-touched pages. Only meaningful when no
    /// other thread uses the pool.
    /// - Complexity: O(free pages).
    func quiescentFreePageCount() -> Int {
        var total = pageCapacity - counter(Self.bumpSlot).pointee.load(ordering: .acquiring)
        for shard in 0 ..< Self.shardCount {
            var link = UInt32(truncatingIfNeeded: head(shard).pointee.load(ordering: .acquiring))
            while link != 0 {
                total += 1
                link = next[Int(link - 1)].load(ordering: .relaxed)
            }
        }
        return total
    }
}
