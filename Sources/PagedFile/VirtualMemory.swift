#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Raw anonymous mappings: the only place this module talks to the kernel.
///
/// Anonymous private mappings read as zeros until written, cost no physical
/// memory until touched (`MAP_NORESERVE`), and give pages back to the kernel
/// with `madvise(MADV_DONTNEED)`, after which they read as zeros again.
enum VirtualMemory {
    /// The alignment of every mapping: one huge page, so a mapping can be
    /// backed by transparent huge pages when the system allows it.
    static let alignmentBytes = 2 << 20

    /// Maps `byteCount` bytes of zeroed, readable and writable memory aligned
    /// to `alignmentBytes`. The corresponding C function is `mmap`.
    static func map(byteCount: Int) throws(PagedFileError) -> UnsafeMutableRawPointer {
        assert(byteCount > 0)
        assert(byteCount % Int(getpagesize()) == 0)
        let (paddedBytes, overflow) = byteCount.addingReportingOverflow(alignmentBytes)
        guard !overflow else { throw .invalidArgument("mapping size overflows") }
        #if canImport(Darwin)
        let flags = MAP_PRIVATE | MAP_ANON
        #else
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        #endif
        let raw = mmap(nil, paddedBytes, PROT_READ | PROT_WRITE, flags, -1, 0)
        guard let raw, raw != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw .mapFailed(errno: errno)
        }
        // Trim the padding so that the mapping starts on an aligned address.
        let address = UInt(bitPattern: raw)
        let alignment = UInt(alignmentBytes)
        let aligned = (address + alignment - 1) & ~(alignment - 1)
        let headBytes = Int(aligned - address)
        let tailBytes = paddedBytes - headBytes - byteCount
        assert(headBytes >= 0 && tailBytes >= 0)
        if headBytes > 0 { _ = munmap(raw, headBytes) }
        let base = raw + headBytes
        if tailBytes > 0 { _ = munmap(base + byteCount, tailBytes) }
        assert(UInt(bitPattern: base) % alignment == 0)
        return base
    }

    /// Unmaps a mapping made by `map(byteCount:)`. The corresponding C
    /// function is `munmap`.
    static func unmap(_ base: UnsafeMutableRawPointer, byteCount: Int) {
        let result = munmap(base, byteCount)
        assert(result == 0, "munmap of a mapping we own failed")
    }

    /// Gives the physical memory of a range back to the kernel; the range
    /// reads as zeros afterwards. The corresponding C function is `madvise`.
    static func discard(_ base: UnsafeMutableRawPointer, byteCount: Int) {
        #if canImport(Darwin)
        memset(base, 0, byteCount)
        #else
        let result = madvise(base, byteCount, MADV_DONTNEED)
        if result != 0 {
            // The range is ours and page aligned; fall back to zeroing so the
            // "free pages read as zeros" invariant holds regardless.
            memset(base, 0, byteCount)
        }
        #endif
    }

    /// Faults in the base pages under a range for writing, in one system
    /// call instead of one page fault per base page as a copy first touches
    /// them. Contents are unchanged. Best effort: a kernel older than 5.14
    /// refuses the advice and the copy faults as it would have. The
    /// corresponding C function is `madvise` with `MADV_POPULATE_WRITE`.
    static func populateForWriting(_ start: UnsafeMutableRawPointer, byteCount: Int) {
        assert(byteCount > 0)
        #if os(Linux)
        let granule = UInt(getpagesize())
        let lower = UInt(bitPattern: start) & ~(granule - 1)
        let upper = (UInt(bitPattern: start) + UInt(byteCount) + granule - 1) & ~(granule - 1)
        _ = madvise(UnsafeMutableRawPointer(bitPattern: lower), Int(upper - lower), MADV_POPULATE_WRITE)
        #endif
    }

    /// A small per-thread number, stable for the life of the thread, used to
    /// spread threads over striped counters and free-list shards.
    @inline(__always)
    static func threadHash(bits: Int) -> Int {
        assert(bits > 0 && bits < 16)
        let identity = UInt64(pthread_self())
        return Int(truncatingIfNeeded: (identity &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - bits))
    }
}
