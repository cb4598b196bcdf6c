import CJournalConcurrency
import Synchronization

/// The page table of one file: a reserved virtual range of atomic slots, one
/// per page of the largest possible file, that never moves or grows.
///
/// A slot holds 0 for a hole or "page index + 1". The range is an anonymous
/// mapping, so untouched slots cost no memory and read as 0; an `Atomic<UInt32>`
/// has the layout of a `UInt32`, so zero bytes are a valid hole. Four bytes
/// per slot (a page index is 32 bits) keep a file's table half as many cache
/// lines as eight would: a random access finds its slot in cache more often.
///
/// - Publication: `publish` is one compare-and-swap from 0 (hole) to a page.
/// - Unpublication: `unpublish` is one exchange to 0, done only while writers
///   are excluded (truncation, close).
/// - Lookups are one acquiring load.
final class PageTable: @unchecked Sendable {
    // @unchecked: slots are atomics; the mapping is owned by this object.

    let slotCount: Int
    private let slots: UnsafeMutablePointer<Atomic<UInt32>>
    private let mappedBytes: Int

    init(slotCount: Int) throws(PagedFileError) {
        assert(slotCount > 0)
        self.slotCount = slotCount
        let bytes = slotCount * MemoryLayout<UInt32>.stride
        let granule = 4096
        mappedBytes = (bytes + granule - 1) / granule * granule
        let base = try VirtualMemory.map(byteCount: mappedBytes)
        slots = base.bindMemory(to: Atomic<UInt32>.self, capacity: slotCount)
    }

    deinit {
        VirtualMemory.unmap(UnsafeMutableRawPointer(slots), byteCount: mappedBytes)
    }

    /// The page in slot `index`, or nil for a hole.
    @inline(__always)
    func page(at index: Int) -> PagePool.PageIndex? {
        lookup.page(at: index)
    }

    /// Read-only access to the slots that a holder of the table keeps inline
    /// (the file's read and write paths), so that a lookup loads the slot
    /// itself and not this object first. Valid while the table lives.
    struct Lookup {
        let slots: UnsafeMutablePointer<Atomic<UInt32>>
        let slotCount: Int

        /// The page in slot `index`, or nil for a hole. One acquiring load.
        @inline(__always)
        func page(at index: Int) -> PagePool.PageIndex? {
            assert(index >= 0 && index < slotCount)
            let value = slots[index].load(ordering: .acquiring)
            return value == 0 ? nil : PagePool.PageIndex(truncatingIfNeeded: value - 1)
        }

        /// Starts bringing slot `index` into the cache; no effect on memory.
        @inline(__always)
        func prefetch(at index: Int) {
            assert(index >= 0 && index < slotCount)
            cjournal_prefetch(UnsafeRawPointer(slots + index))
        }
    }

    var lookup: Lookup { Lookup(slots: slots, slotCount: slotCount) }

    /// Publishes `page` into a hole. Returns the page the slot holds after the
    /// call: `page` if this call won, the winner's page otherwise.
    @inline(__always)
    func publish(_ page: PagePool.PageIndex, at index: Int) -> (won: Bool, page: PagePool.PageIndex) {
        assert(index >= 0 && index < slotCount)
        let (exchanged, original) = slots[index].compareExchange(
            expected: 0, desired: page + 1, ordering: .acquiringAndReleasing)
        if exchanged { return (true, page) }
        assert(original != 0)
        return (false, PagePool.PageIndex(truncatingIfNeeded: original - 1))
    }

    /// Empties slot `index`, returning the page it held.
    @inline(__always)
    func unpublish(at index: Int) -> PagePool.PageIndex? {
        assert(index >= 0 && index < slotCount)
        let value = slots[index].exchange(0, ordering: .acquiringAndReleasing)
        return value == 0 ? nil : PagePool.PageIndex(truncatingIfNeeded: value - 1)
    }
}
