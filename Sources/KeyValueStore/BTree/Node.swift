#if canImport(Glibc)
import Glibc
#endif

// B+tree pages. Normative description in Docs/page-store.md, "Key-value
// store".
//
// Page 0, the meta page:
//   0   4  magic "KVMT"
//   4   2  version (2: slotted leaves; 1: packed leaves only)
//   8   8  root page number
//   16  8  next page number never allocated
//   24  8  number of keys
//   32  8  first page of the free list (0: empty)
//
// A node page:
//   0   1  kind: 4 slotted leaf, 2 internal, 3 free; 1 packed leaf (read only)
//   2   2  entry count n (0 for a free page)
//   8   8  leaf: the next leaf to the right (0: none); free: the next free
//          page (0: none); internal: unused
//   16  ... slotted leaf: n x body offset (u16), in key order; each body
//                 (key bytes u16, value bytes u16, key, value) anywhere
//                 between the slots and the page's end (LeafLayout.swift)
//       packed leaf: n x (key bytes u16, value bytes u16, key, value), keys increasing
//       internal: child 0 (u64), then n x (key bytes u16, key, child u64):
//                 child i+1 holds the keys >= key i (and < key i+1)

struct Meta: Equatable {
    static let magic: UInt32 = 0x544D_564B  // "KVMT"
    /// 2 since leaves are slotted; a store of version 1 (packed leaves) is
    /// read, and its first write sets version 2, so that code that knows
    /// only packed leaves refuses the store (`newerFormat`) rather than
    /// meeting a leaf kind it does not know.
    static let version: UInt16 = 2
    var root: UInt64
    var nextPage: UInt64
    var count: UInt64
    /// The first free page (0: none). Stores written before the free list
    /// existed hold 0 here.
    var freeHead: UInt64 = 0
    /// The version the page holds (`encode` writes `Meta.version`).
    var version: UInt16 = Meta.version

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
            freeHead: page.le64(32), version: version)
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
    /// Page kinds (byte 0).
    static let packedLeafKind: UInt8 = 1
    static let internalKind: UInt8 = 2
    static let freeKind: UInt8 = 3
    static let slottedLeafKind: UInt8 = 4

    var isLeaf: Bool
    /// A page on the free list (`next` is the next free page); neither leaf
    /// nor internal node.
    var isFree = false
    var keys: [[UInt8]] = []
    /// Leaf only.
    var values: [[UInt8]] = []
    /// Leaf only, index for index with `keys`: where the entry's body lies
    /// in the slotted page, 0 while it has no place yet (a new entry or a
    /// replaced value, or every entry of a leaf that is to be laid out
    /// afresh).
    /// Kept across writes so that an insert changes only the slots and the
    /// new body, not the page's other bytes (LeafLayout.swift).
    var bodyOffsets: [Int] = []
    /// Internal only: keys.count + 1 children.
    var children: [UInt64] = []
    /// Leaf only.
    var next: UInt64 = 0
    /// Decoded from a packed leaf (kind 1, written before leaves were
    /// slotted); it is written slotted.
    var wasPacked = false

    static func emptyLeaf() -> Node { Node(isLeaf: true) }

    static func free(next: UInt64) -> Node {
        var n = Node(isLeaf: false)
        n.isFree = true
        n.next = next
        return n
    }

    /// Bytes of an entry in a slotted leaf: its slot and its body.
    static func leafEntryBytes(key: [UInt8], value: [UInt8]) -> Int { 2 + 4 + key.count + value.count }

    /// Bytes the node takes when written (a leaf is written slotted): what
    /// decides splits and merges.
    var encodedBytes: Int {
        if isFree { return Self.headerBytes }
        if isLeaf {
            return Self.headerBytes + zip(keys, values).reduce(0) { $0 + Self.leafEntryBytes(key: $1.0, value: $1.1) }
        }
        return Self.headerBytes + 8 + keys.reduce(0) { $0 + 10 + $1.count }
    }

    // MARK: Leaf edits (keep `bodyOffsets` in step with the entries)

    mutating func insertEntry(_ key: [UInt8], _ value: [UInt8], at i: Int) {
        assert(isLeaf && bodyOffsets.count == keys.count)
        keys.insert(key, at: i)
        values.insert(value, at: i)
        bodyOffsets.insert(0, at: i)
    }

    /// The new value takes a new place (its old body becomes free space),
    /// so that an entry that keeps its place has its body on the page
    /// already: only new bodies are written (`place`, `encode(over:bodies:)`).
    mutating func replaceValue(at i: Int, with value: [UInt8]) {
        assert(isLeaf && bodyOffsets.count == keys.count)
        bodyOffsets[i] = 0
        values[i] = value
    }

    mutating func removeEntry(at i: Int) {
        assert(isLeaf && bodyOffsets.count == keys.count)
        keys.remove(at: i)
        values.remove(at: i)
        bodyOffsets.remove(at: i)
    }

    /// Gives up every entry's place: the leaf is laid out afresh when
    /// written (a leaf that moves to another page: the right half of a
    /// split or of a share).
    mutating func forgetPlacement() {
        bodyOffsets = [Int](repeating: 0, count: isLeaf ? keys.count : 0)
    }

    static func decode(_ page: [UInt8], number: UInt64) throws(KeyValueError) -> Node {
        try page.withUnsafeBytes { b in Result { () throws(KeyValueError) -> Node in try decode(b, number: number) } }.get()
    }

    static func decode(_ page: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> Node {
        let kind = page[0]
        let n = Int(page.le16(2))
        switch kind {
        case freeKind:
            guard n == 0 else { throw .corruption(page: number, detail: "a free page with entries") }
            return .free(next: page.le64(8))
        case slottedLeafKind: return try decodeSlottedLeaf(page, number: number)
        case packedLeafKind: return try decodePackedLeaf(page, number: number)
        case internalKind: return try decodeInternal(page, number: number)
        default: throw .corruption(page: number, detail: "not a node (kind \(kind))")
        }
    }

    private static func decodeInternal(_ page: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> Node {
        let n = Int(page.le16(2))
        var node = Node(isLeaf: false)
        var at = headerBytes
        func need(_ bytes: Int) throws(KeyValueError) {
            guard at + bytes <= page.count else { throw .corruption(page: number, detail: "entries overrun the page") }
        }
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
        return node
    }

    /// The page of this node, written afresh.
    func encode(pageBytes: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: pageBytes)
        encode(over: &out, cleared: true)
        return out
    }

    /// Writes the node over `page`, the page it replaces. A placed leaf
    /// (`place`) keeps what the page holds outside its header, slots and
    /// bodies (free space, whatever it holds: LeafLayout.swift), so the
    /// page's delta is only what the leaf's change wrote; of its bodies,
    /// only those at `bodies` (nil: all), the ones `place` gave a new
    /// place, are written: the others are on the page. Other nodes are
    /// written afresh. `cleared`: the page is all zero already.
    func encode(over page: inout [UInt8], bodies: [Int]? = nil, cleared: Bool = false) {
        precondition(encodedBytes <= page.count, "a node is split before it overflows its page")
        page.withUnsafeMutableBytes { b in
            if !cleared && !isLeaf { b.initializeMemory(as: UInt8.self, repeating: 0) }
            if isFree {
                assert(keys.isEmpty && children.isEmpty)
                b[0] = Self.freeKind
                b.storeLE64(next, at: 8)
                return
            }
            b[0] = isLeaf ? Self.slottedLeafKind : Self.internalKind
            b[1] = 0
            b.storeLE16(UInt16(keys.count), at: 2)
            b.storeLE32(0, at: 4)
            if isLeaf { encodeSlottedLeaf(into: b, bodies: bodies) } else { encodeInternalEntries(into: b) }
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
    ///
    /// Given `pageBytes`, a leaf's right half, laid out in a page of its
    /// own, is kept to what that page's delta can carry: the page store
    /// journals a delta only up to half a page (Docs/page-store.md,
    /// "Transaction records"), else the whole page. The delta of a leaf
    /// laid out over a blank or free page is its header and slots, its
    /// bodies, and two range headers. The cut moves right for that only
    /// while the left half stays within the page.
    mutating func split(pageBytes: Int? = nil) -> (right: Node, separator: [UInt8]) {
        let total = encodedBytes
        var acc = Self.headerBytes
        var cut = 0
        for (i, k) in keys.enumerated() {
            acc += isLeaf ? Self.leafEntryBytes(key: k, value: values[i]) : 10 + k.count
            if acc * 2 >= total { cut = i; break }
        }
        cut = max(1, min(cut, keys.count - 1))
        if isLeaf, let pageBytes {
            var rightBytes = Self.headerBytes + (cut..<keys.count).reduce(0) { $0 + Self.leafEntryBytes(key: keys[$1], value: values[$1]) }
            var leftBytes = total - rightBytes + Self.headerBytes
            while rightBytes > pageBytes / 2 - 2 * 8 && cut < keys.count - 1 {
                let moved = Self.leafEntryBytes(key: keys[cut], value: values[cut])
                guard leftBytes + moved <= pageBytes else { break }
                leftBytes += moved
                rightBytes -= moved
                cut += 1
            }
        }
        var right = Node(isLeaf: isLeaf)
        if isLeaf {
            right.keys = Array(keys[cut...])
            right.values = Array(values[cut...])
            keys.removeSubrange(cut...)
            values.removeSubrange(cut...)
            right.next = next
            // The left half keeps its bodies where they are (its delta is
            // its header and slots); the right half is laid out in its new
            // page.
            bodyOffsets.removeSubrange(cut...)
            right.forgetPlacement()
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
