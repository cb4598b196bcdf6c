import Synchronization

/// The page table of one file: a reserved virtual range of atomic slots, one
/// per page of the largest possible file, that never moves or grows.
///
/// A slot holds 0 for a hole or "page index + 1". The range is an anonymous
/// mapping, so untouched slots cost no memory and read as 0; an `Atomic<UInt>`
/// has the layout of a `UInt`, so zero bytes are a valid hole.
///
/// - Publication: `publish` is one compare-and-swap from 0 (hole) to a page.
/// - Unpublication: `unpublish` is one exchange to 0, done only while writers
///   are excluded (truncation, close).
/// - Lookups are one acquiring load.
final class PageTable: @unchecked Sendable {
    // @unchecked: slots are atomics; the mapping is owned by this object.

    let slotCount: Int
    private let slots: UnsafeMutablePointer<Atomic<UInt>>
    private let mappedBytes: Int

    init(slotCount: Int) throws(PagedFileError) {
        assert(slotCount > 0)
        self.slotCount = slotCount
        let bytes = slotCount * MemoryLayout<UInt>.stride
        let granule = 4096
        mappedBytes = (bytes + granule - 1) / granule * granule
        let base = try VirtualMemory.map(byteCount: mappedBytes)
        slots = base.bindMemory(to: Atomic<UInt>.self, capacity: slotCount)
    }

    deinit {
        VirtualMemory.unmap(UnsafeMutableRawPointer(slots), byteCount: mappedBytes)
    }

    /// The page in slot `index`, or nil for a hole.
    @inline(__always)
    func page(at index: Int) -> PagePool.PageIndex? {
        assert(index >= 0 && index < slotCount)
        let value = slots[index].load(ordering: .acquiring)
        return value == 0 ? nil : PagePool.PageIndex(truncatingIfNeeded: value - 1)
    }

    /// Publishes `page` into a hole. Returns the page the slot holds after the
    /// call: `page` if this call won, the winner's page otherwise.
    @inline(__always)
    func publish(_ page: PagePool.PageIndex, at index: Int) -> (won: Bool, page: PagePool.PageIndex) {
        assert(index >= 0 && index < slotCount)
        let (exchanged, original) = slots[index].compareExchange(
            expected: 0, desired: UInt(page) + 1, ordering: .acquiringAndReleasing)
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
