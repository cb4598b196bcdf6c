import JournalStorage
import JournalPrimitives

#if canImport(Glibc)
import Glibc
#endif

/// The memory of a journal's batch buffers: one anonymous mapping, its
/// buffers cut from a 2 MiB-aligned region that is advised for transparent
/// huge pages.
///
/// Why: the kernel pins a direct write's pages and hands the block layer
/// one vector per physically contiguous run. From 4 KiB pages a batch of a
/// 1 MiB record (1028 KiB with its headers) is 257 runs: more than one bio
/// holds (256) and more than a virtio disk takes in one request (254
/// segments here), so it reaches the disk as two or three requests. From
/// 2 MiB pages it is one or two runs, one request, and fewer pages to pin.
/// Where huge pages are not to be had the region is ordinary 4 KiB pages:
/// nothing depends on them but speed.
///
/// An arena smaller than one huge page in all is mapped at its own size
/// instead: its buffers (a journal has at least three: its in-flight
/// batches and two more) are then under 700 KiB each, at
/// most 171 pages, one request from 4 KiB pages too, and rounding it up
/// would touch 2 MiB at every open for nothing (journals with small
/// batches, opened thousands of times by the crash explorer, touched 40
/// to 60 times the memory their buffers use).
final class BatchArena {
    static let hugePageBytes = 2 << 20

    /// The whole mapping, as `munmap` releases it.
    private let mapping: UnsafeMutableRawBufferPointer
    /// The region the buffers are cut from: 2 MiB-aligned unless the arena
    /// is smaller than that.
    let region: UnsafeMutableRawBufferPointer
    let capacity: Int
    let count: Int
    /// Distance between buffers: the capacity rounded up to whole pages
    /// and to the alignment.
    private let stride: Int

    /// Maps and touches room for `count` buffers of `capacity` bytes each,
    /// zero-filled, so that no append faults a page in later. Each buffer
    /// starts at a multiple of `alignment` (a power of two up to 2 MiB) and
    /// of the page size.
    init(count: Int, capacity: Int, alignment: Int, hugePages: Bool) throws(JournalError) {
        precondition(count > 0 && capacity > 0)
        let huge = Self.hugePageBytes
        precondition(alignment > 0 && alignment & (alignment - 1) == 0 && alignment <= huge, "a power of two up to 2 MiB")
        let stride = roundUp(capacity, max(4096, alignment))
        // Huge pages for an arena of at least one; a smaller one starts on
        // its buffers' alignment and is exactly their size.
        let regionAlignment = count * stride >= huge ? huge : max(4096, alignment)
        let bytes = roundUp(count * stride, regionAlignment)
        // One alignment more, to align the region within the mapping.
        let length = bytes + regionAlignment
        guard let raw = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            throw .io(StorageError("mmap", path: "batch buffers (\(length) bytes)", errno: Errno(rawValue: errno)))
        }
        let address = UInt(bitPattern: raw)
        let start = raw + Int(UInt(roundUp(Int(address), regionAlignment)) - address)
        mapping = UnsafeMutableRawBufferPointer(start: raw, count: length)
        region = UnsafeMutableRawBufferPointer(start: start, count: bytes)
        self.capacity = capacity
        self.count = count
        self.stride = stride
        // Advice only: the kernel may decline it (transparent huge pages
        // off, or memory too fragmented), and every buffer works regardless.
        if hugePages && regionAlignment == huge { _ = madvise(start, bytes, MADV_HUGEPAGE) }
        // Fault every page in now (huge pages where the advice took).
        memset(start, 0, bytes)
        assert(Int(bitPattern: region.baseAddress) % regionAlignment == 0, "the region starts on its alignment")
        assert(count * stride <= bytes, "every buffer lies in the region")
    }

    /// The `index`th buffer: `capacity` bytes, aligned.
    func buffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        precondition(index >= 0 && index < count, "a buffer of this arena")
        return UnsafeMutableRawBufferPointer(rebasing: region[index * stride..<index * stride + capacity])
    }

    /// Bytes of the region backed by huge pages, from `/proc/self/smaps`
    /// (`AnonHugePages` of the mapping), or nil where that is unreadable.
    func hugePageBacking() -> Int? {
        let fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        let first = UInt(bitPattern: mapping.baseAddress)
        let last = first + UInt(mapping.count)
        var inside = false
        var total = 0
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), let low = UInt(line[..<dash], radix: 16),
               let space = line[dash...].firstIndex(of: " "), let high = UInt(line[line.index(after: dash)..<space], radix: 16) {
                // A mapping's first line: is it (a part of) ours? The kernel
                // may split the mapping, so several can cover it.
                inside = low >= first && high <= last
            } else if inside, line.hasPrefix("AnonHugePages:") {
                total += (Int(String(line.dropFirst("AnonHugePages:".count).filter(\.isNumber))) ?? 0) * 1024
            }
        }
        return total
    }

    deinit { munmap(mapping.baseAddress, mapping.count) }
}
