#if canImport(Glibc)
import Glibc
#endif

// B+tree pages. Normative description in Docs/page-store.md, "Key-value
// store".
//
// Page 0, the meta page:
//   0   4  magic "KVMT"
//   4   2  version (1)
//   8   8  root page number
//   16  8  next page number never allocated
//   24  8  number of keys
//   32  8  first page of the free list (0: empty)
//
// A node page:
//   0   1  kind: 1 leaf, 2 internal, 3 free
//   2   2  entry count n (0 for a free page)
//   8   8  leaf: the next leaf to the right (0: none); free: the next free
//          page (0: none); internal: unused
//   16  ... entries, packed:
//       leaf:     n x (key bytes u16, value bytes u16, key, value), keys increasing
//       internal: child 0 (u64), then n x (key bytes u16, key, child u64):
//                 child i+1 holds the keys >= key i (and < key i+1)

struct Meta: Equatable {
    static let magic: UInt32 = 0x544D_564B  // "KVMT"
    static let version: UInt16 = 1
    var root: UInt64
    var nextPage: UInt64
    var count: UInt64
    /// The first free page (0: none). Stores written before the free list
    /// existed hold 0 here.
    var freeHead: UInt64 = 0

    static func decode(_ page: [UInt8]) throws(KeyValueError) -> Meta? {
        try page.withUnsafeBytes { b in Result { () throws(KeyValueError) -> Meta? in try decode(b) } }.get()
    }

    static func decode(_ page: UnsafeRawBufferPointer) throws(KeyValueError) -> Meta? {
        let magic = page.le32(0)
        if magic == 0 && page.allSatisfy({ $0 == 0 }) { return nil }
        guard magic == Self.magic else { throw .corruption(page: 0, detail: "bad meta magic") }
        let version = page.le16(4)
        guard version <= Self.version else { throw .newerFormat(found: version, supported: Self.version) }
        return Meta(
            root: page.le64(8), nextPage: page.le64(16), count: page.le64(24),
            freeHead: page.le64(32))
    }

    func encode(pageBytes: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: pageBytes)
        out.withUnsafeMutableBytes { b in
            b.storeLE32(Self.magic, at: 0)
            b.storeLE16(Self.version, at: 4)
            b.storeLE64(root, at: 8)
            b.storeLE64(nextPage, at: 16)
            b.storeLE64(count, at: 24)
            b.storeLE64(freeHead, at: 32)
        }
        return out
    }
}

struct Node {
    static let headerBytes = 16
    var isLeaf: Bool
    /// A page on the free list (`next` is the next free page); neither leaf
    /// nor internal node.
    var isFree = false
    var keys: [[UInt8]] = []
    /// Leaf only.
    var values: [[UInt8]] = []
    /// Internal only: keys.count + 1 children.
    var children: [UInt64] = []
    /// Leaf only.
    var next: UInt64 = 0

    static func emptyLeaf() -> Node { Node(isLeaf: true) }

    static func free(next: UInt64) -> Node {
        var n = Node(isLeaf: false)
        n.isFree = true
        n.next = next
        return n
    }

    var encodedBytes: Int {
        if isFree { return Self.headerBytes }
        if isLeaf {
            return Self.headerBytes + zip(keys, values).reduce(0) { $0 + 4 + $1.0.count + $1.1.count }
        }
        return Self.headerBytes + 8 + keys.reduce(0) { $0 + 10 + $1.count }
    }

    static func decode(_ page: [UInt8], number: UInt64) throws(KeyValueError) -> Node {
        try page.withUnsafeBytes { b in Result { () throws(KeyValueError) -> Node in try decode(b, number: number) } }.get()
    }

    static func decode(_ page: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> Node {
        let kind = page[0]
        let n = Int(page.le16(2))
        var node = Node(isLeaf: kind == 1)
        guard kind == 1 || kind == 2 || kind == 3 else { throw .corruption(page: number, detail: "not a node (kind \(kind))") }
        if kind == 3 {
            guard n == 0 else { throw .corruption(page: number, detail: "a free page with entries") }
            return .free(next: page.le64(8))
        }
        var at = headerBytes
        func need(_ bytes: Int) throws(KeyValueError) {
            guard at + bytes <= page.count else { throw .corruption(page: number, detail: "entries overrun the page") }
        }
        if node.isLeaf {
            node.next = page.le64(8)
            node.keys.reserveCapacity(n)
            node.values.reserveCapacity(n)
            for _ in 0..<n {
                try need(4)
                let k = Int(page.le16(at))
                let v = Int(page.le16(at + 2))
                at += 4
                try need(k + v)
                node.keys.append(Array(page[at..<(at + k)]))
                node.values.append(Array(page[(at + k)..<(at + k + v)]))
                at += k + v
            }
        } else {
            try need(8)
            node.children.append(page.le64(at))
            at += 8
            for _ in 0..<n {
                try need(2)
                let k = Int(page.le16(at))
                at += 2
                try need(k + 8)
                node.keys.append(Array(page[at..<(at + k)]))
                node.children.append(page.le64(at + k))
                at += k + 8
            }
        }
        return node
    }

    func encode(pageBytes: Int) -> [UInt8] {
        precondition(encodedBytes <= pageBytes, "a node is split before it overflows its page")
        var out = [UInt8](repeating: 0, count: pageBytes)
        out.withUnsafeMutableBytes { b in
            if isFree {
                assert(keys.isEmpty && children.isEmpty)
                b[0] = 3
                b.storeLE64(next, at: 8)
                return
            }
            b[0] = isLeaf ? 1 : 2
            b.storeLE16(UInt16(keys.count), at: 2)
            if isLeaf { encodeLeafEntries(into: b) } else { encodeInternalEntries(into: b) }
        }
        return out
    }

    private func encodeLeafEntries(into b: UnsafeMutableRawBufferPointer) {
        var at = Self.headerBytes
        b.storeLE64(next, at: 8)
        for (k, v) in zip(keys, values) {
            b.storeLE16(UInt16(k.count), at: at)
            b.storeLE16(UInt16(v.count), at: at + 2)
            at += 4
            UnsafeMutableRawBufferPointer(rebasing: b[at..<(at + k.count)]).copyBytes(from: k)
            at += k.count
            UnsafeMutableRawBufferPointer(rebasing: b[at..<(at + v.count)]).copyBytes(from: v)
            at += v.count
        }
    }

    private func encodeInternalEntries(into b: UnsafeMutableRawBufferPointer) {
        assert(children.count == keys.count + 1)
        var at = Self.headerBytes
        b.storeLE64(children[0], at: at)
        at += 8
        for (i, k) in keys.enumerated() {
            b.storeLE16(UInt16(k.count), at: at)
            at += 2
            UnsafeMutableRawBufferPointer(rebasing: b[at..<(at + k.count)]).copyBytes(from: k)
            at += k.count
            b.storeLE64(children[i + 1], at: at)
            at += 8
        }
    }

    /// Leaf: the index of `key`, or where it would go.
    func search(_ key: [UInt8]) -> (index: Int, found: Bool) {
        var lo = 0
        var hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid].lexicographicallyPrecedes(key) { lo = mid + 1 } else { hi = mid }
        }
        return (lo, lo < keys.count && keys[lo] == key)
    }

    /// Internal: the child that holds `key` (keys equal to a separator go right).
    func childIndex(for key: [UInt8]) -> Int {
        var lo = 0
        var hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if key.lexicographicallyPrecedes(keys[mid]) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// Splits an overflowing node in two by bytes. Returns the right half
    /// and the separator: the first key of the right leaf, or the middle
    /// key of an internal node (moved up, kept in neither half).
    mutating func split() -> (right: Node, separator: [UInt8]) {
        let total = encodedBytes
        var acc = Self.headerBytes
        var cut = 0
        for (i, k) in keys.enumerated() {
            acc += isLeaf ? 4 + k.count + values[i].count : 10 + k.count
            if acc * 2 >= total { cut = i; break }
        }
        cut = max(1, min(cut, keys.count - 1))
        var right = Node(isLeaf: isLeaf)
        if isLeaf {
            right.keys = Array(keys[cut...])
            right.values = Array(values[cut...])
            keys.removeSubrange(cut...)
            values.removeSubrange(cut...)
            right.next = next
            return (right, right.keys[0])
        }
        let separator = keys[cut]
        right.keys = Array(keys[(cut + 1)...])
        right.children = Array(children[(cut + 1)...])
        keys.removeSubrange(cut...)
        children.removeSubrange((cut + 1)...)
        return (right, separator)
    }
}

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

    /// Leaf: the value of `key`, copied, or nil.
    static func value(_ page: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> [UInt8]? {
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
