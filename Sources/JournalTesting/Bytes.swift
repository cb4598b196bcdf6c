#if canImport(Glibc)
import Glibc
#endif

/// Copies, comparisons and zero scans of byte buffers through `memcpy`,
/// `memset` and `memcmp`.
///
/// Why: the tests run a debug build, where the generic collection paths
/// (`Array(buffer)`, `==` on `[UInt8]`, `contains(where:)`) go byte by byte
/// through value witnesses, and the explorer copies, compares and scans
/// whole disk images thousands of times per seed. The results are the same
/// bytes and the same answers.
enum Bytes {
    /// A new array holding `bytes`.
    static func array(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let count = bytes.count
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0, let to = buffer.baseAddress, let from = bytes.baseAddress {
                memcpy(to, from, count)
            }
            initialized = count
        }
    }

    /// Whether `a` and `b` hold the same bytes.
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        return memcmp(pa, pb, a.count) == 0
    }

    /// Whether `a` and `b` hold the same bytes.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { ra in b.withUnsafeBytes { rb in equal(ra, rb) } }
    }

    /// Whether two arrays of byte strings are equal, element for element.
    static func equal(_ a: [[UInt8]], _ b: [[UInt8]]) -> Bool {
        guard a.count == b.count else { return false }
        for i in a.indices where !equal(a[i], b[i]) { return false }
        return true
    }

    /// Fills `buffer` with zeros.
    static func zero(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        memset(base, 0, buffer.count)
    }

    /// Whether the `count` bytes at `base` are all zero: the first is, and
    /// each equals the next.
    private static func isZero(_ base: UnsafeRawPointer, _ count: Int) -> Bool {
        if count == 0 { return true }
        if base.load(as: UInt8.self) != 0 { return false }
        return count == 1 || memcmp(base, base + 1, count - 1) == 0
    }

    /// The index of the last non-zero byte of `bytes`, or nil when every
    /// byte is zero (or there are none).
    static func lastNonZero(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var end = bytes.count
        // Whole zero chunks are dropped from the end, coarse then fine: the
        // chunk a level stops at holds a non-zero byte, so the next level
        // stops inside it.
        for step in [4096, 64, 1] {
            while end > 0 {
                let start = max(0, end - step)
                if !isZero(base + start, end - start) { break }
                end = start
            }
            if end == 0 { return nil }
        }
        return end - 1
    }
}
