#if canImport(Glibc)
import Glibc
#endif

/// Searches encoded pages in place, without decoding whole nodes: the read
/// path of `get` (one page buffer, no allocation but the value returned).
enum NodeView {
    /// Lexicographic order of two byte strings (shorter prefix first).
    @inline(__always)
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0, let pa = a.baseAddress, let pb = b.baseAddress {
            let c = memcmp(pa, pb, n)
            if c != 0 { return Int(c) }
        }
        return a.count - b.count
    }

    static func kind(_ page: UnsafeRawBufferPointer) -> UInt8 { page[0] }

    /// Internal node: the child that holds `key` (keys equal to a separator go right).
    static func child(_ page: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> UInt64 {
        let n = Int(page.le16(2))
        var at = Node.headerBytes
        guard at + 8 <= page.count else { throw .corruption(page: number, detail: "entries overrun the page") }
        var child = page.le64(at)
        at += 8
        for _ in 0..<n {
            guard at + 2 <= page.count else { throw .corruption(page: number, detail: "entries overrun the page") }
            let k = Int(page.le16(at))
            guard at + 2 + k + 8 <= page.count else { throw .corruption(page: number, detail: "entries overrun the page") }
            if compare(key, UnsafeRawBufferPointer(rebasing: page[(at + 2)..<(at + 2 + k)])) < 0 { return child }
            child = page.le64(at + 2 + k)
            at += 2 + k + 8
        }
        return child
    }

    /// Leaf (slotted or packed): the value of `key`, copied, or nil.
    static func value(_ page: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> [UInt8]? {
        kind(page) == Node.slottedLeafKind
            ? try slottedValue(page, key: key, number: number)
            : try packedValue(page, key: key, number: number)
    }

    /// Slotted leaf: a binary search over the slots.
    private static func slottedValue(_ page: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> [UInt8]? {
        let n = Int(page.le16(2))
        let slotsEnd = Node.headerBytes + 2 * n
        guard slotsEnd <= page.count else { throw .corruption(page: number, detail: "slots overrun the page") }
        var lo = 0
        var hi = n
        while lo < hi {
            let mid = (lo + hi) / 2
            let at = Int(page.le16(Node.headerBytes + 2 * mid))
            guard at >= slotsEnd, at + 4 <= page.count else { throw .corruption(page: number, detail: "a slot points outside the entries") }
            let k = Int(page.le16(at))
            let v = Int(page.le16(at + 2))
            guard at + 4 + k + v <= page.count else { throw .corruption(page: number, detail: "an entry overruns the page") }
            let c = compare(key, UnsafeRawBufferPointer(rebasing: page[(at + 4)..<(at + 4 + k)]))
            if c == 0 { return Array(UnsafeRawBufferPointer(rebasing: page[(at + 4 + k)..<(at + 4 + k + v)])) }
            if c < 0 { hi = mid } else { lo = mid + 1 }
        }
        return nil
    }

    /// Packed leaf (stores written before leaves were slotted): entry by entry.
    private static func packedValue(_ page: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> [UInt8]? {
        let n = Int(page.le16(2))
        var at = Node.headerBytes
        for _ in 0..<n {
            guard at + 4 <= page.count else { throw .corruption(page: number, detail: "entries overrun the page") }
            let k = Int(page.le16(at))
            let v = Int(page.le16(at + 2))
            guard at + 4 + k + v <= page.count else { throw .corruption(page: number, detail: "entries overrun the page") }
            let c = compare(key, UnsafeRawBufferPointer(rebasing: page[(at + 4)..<(at + 4 + k)]))
            if c == 0 { return Array(UnsafeRawBufferPointer(rebasing: page[(at + 4 + k)..<(at + 4 + k + v)])) }
            if c < 0 { return nil }
            at += 4 + k + v
        }
        return nil
    }
}
