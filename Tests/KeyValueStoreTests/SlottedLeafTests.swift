import JournalPrimitives
@testable import KeyValueStore
import Testing

/// The slotted leaf's placement (LeafLayout.swift), node by node: which
/// bytes of a leaf's page a change writes, since those are what a put
/// journals.
@Suite("Key-value store: slotted leaf placement")
struct SlottedLeafTests {
    static let pageBytes = 4096

    /// A leaf written as a store writes it: placed, then encoded over the
    /// page it replaces.
    static func write(_ leaf: inout Node, over page: inout [UInt8]) {
        let bodies = leaf.place(pageBytes: pageBytes)
        leaf.encode(over: &page, bodies: bodies)
    }

    /// Offsets at which `a` and `b` differ.
    static func changed(_ a: [UInt8], _ b: [UInt8]) -> [Int] { a.indices.filter { a[$0] != b[$0] } }

    /// A leaf filled by inserts in random key order, each written over the
    /// last page, until the next insert would overflow it.
    static func fullLeaf(seed: UInt64) -> (Node, [UInt8]) {
        var random = SplitMix64(seed: seed)
        var leaf = Node.emptyLeaf()
        var page = [UInt8](repeating: 0, count: pageBytes)
        while true {
            let key = name(random.below(100_000)), value = [UInt8](repeating: UInt8(leaf.keys.count), count: 100)
            let (i, found) = leaf.search(key)
            if found { continue }
            if leaf.encodedBytes + Node.leafEntryBytes(key: key, value: value) > pageBytes { return (leaf, page) }
            leaf.insertEntry(key, value, at: i)
            write(&leaf, over: &page)
        }
    }

    /// Removes the entries whose bodies lie `ranks` places from the page's
    /// end (0: the highest); returns their offsets.
    static func remove(ranks: [Int], from leaf: inout Node) -> [Int] {
        let byPlace = leaf.bodyOffsets.indices.sorted { leaf.bodyOffsets[$0] > leaf.bodyOffsets[$1] }
        let victims = ranks.map { byPlace[$0] }
        let offsets = victims.map { leaf.bodyOffsets[$0] }
        for i in victims.sorted(by: >) { leaf.removeEntry(at: i) }
        return offsets
    }

    /// Every key of `leaf` read back from `page`, both by decoding it and
    /// by the read path's search over the slots.
    static func expectReads(_ leaf: Node, from page: [UInt8]) throws {
        let decoded = try Node.decode(page, number: 9)
        #expect(decoded.keys == leaf.keys && decoded.values == leaf.values && decoded.next == leaf.next)
        try page.withUnsafeBytes { p in
            for (k, v) in zip(leaf.keys, leaf.values) {
                let found = try k.withUnsafeBytes { key in try NodeView.value(p, key: key, number: 9) }
                #expect(found == v)
            }
        }
    }

    @Test("an insert writes its body, the slots from the insertion point and the count; every other byte stays")
    func insertWritesLittle() throws {
        var (leaf, page) = Self.fullLeaf(seed: 1)
        leaf.removeEntry(at: 0)
        Self.write(&leaf, over: &page)
        let before = page
        // The size of the entry removed: 113 body bytes and a slot.
        let key = Array("key-50000x".utf8), value = [UInt8](repeating: 7, count: 99)
        let (i, _) = leaf.search(key)
        leaf.insertEntry(key, value, at: i)
        Self.write(&leaf, over: &page)
        let body = leaf.bodyOffsets[i]
        for offset in Self.changed(before, page) {
            let inSlotsOrCount = (2..<4).contains(offset) || (16 + 2 * i..<16 + 2 * leaf.keys.count).contains(offset)
            #expect(inSlotsOrCount || (body..<body + 4 + key.count + value.count).contains(offset), "byte \(offset) changed")
        }
        try Self.expectReads(leaf, from: page)
    }

    @Test("a split keeps the left leaf's bodies where they were: its page changes only in its header and slots")
    func splitKeepsTheLeftLeaf() throws {
        for seed: UInt64 in 1...8 {
            var (leaf, page) = Self.fullLeaf(seed: seed)
            let before = page
            let places = Dictionary(uniqueKeysWithValues: zip(leaf.keys, leaf.bodyOffsets))
            let key = Array("key-50000x".utf8), value = [UInt8](repeating: 7, count: 100)
            leaf.insertEntry(key, value, at: leaf.search(key).index)
            #expect(leaf.encodedBytes > Self.pageBytes)
            var (right, separator) = leaf.split()
            #expect(right.keys.first == separator)
            Self.write(&leaf, over: &page)
            for (k, offset) in zip(leaf.keys, leaf.bodyOffsets) where k != key {
                #expect(places[k] == offset, "a body of the left leaf moved")
            }
            let touched = Self.changed(before, page)
            let bodyOfNew = leaf.keys.firstIndex(of: key).map { leaf.bodyOffsets[$0]..<leaf.bodyOffsets[$0] + 4 + key.count + value.count }
            let outside = touched.filter { $0 >= 16 + 2 * places.count && !(bodyOfNew?.contains($0) ?? false) }
            #expect(outside.isEmpty, "seed \(seed): bytes past the header and slots changed: \(outside.prefix(8))")
            try Self.expectReads(leaf, from: page)
            var fresh = [UInt8](repeating: 0, count: Self.pageBytes)
            Self.write(&right, over: &fresh)
            try Self.expectReads(right, from: fresh)
        }
    }

    @Test("space a delete left takes a new body of its size; the leaf is compacted only when no free run holds a body")
    func freeRunsBeforeCompaction() throws {
        var (leaf, page) = Self.fullLeaf(seed: 3)
        // Two deletes free two runs of 113 bytes in the middle of the page
        // (the 10th and 15th bodies from its end).
        let freed = Set(Self.remove(ranks: [10, 15], from: &leaf))
        Self.write(&leaf, over: &page)
        let kept = Dictionary(uniqueKeysWithValues: zip(leaf.keys, leaf.bodyOffsets))
        for key in [Array("key-50000x".utf8), Array("key-50001x".utf8)] {
            leaf.insertEntry(key, [UInt8](repeating: 1, count: 99), at: leaf.search(key).index)
        }
        Self.write(&leaf, over: &page)
        // The space below the lowest body (under 115 bytes in a full leaf)
        // holds at most one of them: the other takes a freed run.
        var intoFreed = 0
        for (k, offset) in zip(leaf.keys, leaf.bodyOffsets) {
            if let old = kept[k] { #expect(old == offset, "a body moved without need") } else if freed.contains(offset) { intoFreed += 1 }
        }
        #expect(intoFreed >= 1)
        try Self.expectReads(leaf, from: page)
        // A body larger than any free run, though the leaf has room for it
        // in all: the leaf is compacted, its bodies slid up against the
        // page's end in the order they lay; those above the highest free
        // run stay.
        _ = Self.remove(ranks: [5, 12, 20], from: &leaf)
        let before = Dictionary(uniqueKeysWithValues: zip(leaf.keys, leaf.bodyOffsets))
        // The top of the highest free run: bodies above it are packed
        // against the page's end already.
        var top = Self.pageBytes
        for (i, offset) in leaf.bodyOffsets.enumerated().sorted(by: { $0.element > $1.element }) {
            guard offset + 4 + leaf.keys[i].count + leaf.values[i].count == top else { break }
            top = offset
        }
        let big = Array("key-50002x".utf8), value = [UInt8](repeating: 2, count: 250)
        leaf.insertEntry(big, value, at: leaf.search(big).index)
        #expect(leaf.encodedBytes <= Self.pageBytes)
        Self.write(&leaf, over: &page)
        let extents = leaf.keys.indices.map { (start: leaf.bodyOffsets[$0], end: leaf.bodyOffsets[$0] + 4 + leaf.keys[$0].count + leaf.values[$0].count) }
        let sorted = extents.sorted { $0.start > $1.start }
        #expect(sorted.first?.end == Self.pageBytes)
        #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.start == $1.end }, "packed, no free run between bodies")
        #expect(leaf.bodyOffsets[leaf.keys.firstIndex(of: big) ?? 0] == sorted.last?.start, "the new body lies lowest")
        for (k, offset) in zip(leaf.keys, leaf.bodyOffsets) where (before[k] ?? 0) >= top {
            #expect(before[k] == offset, "a body above the highest free run moved")
        }
        #expect(top < Self.pageBytes && leaf.keys.contains { (before[$0] ?? 0) < top }, "some bodies lay above the run, some below")
        try Self.expectReads(leaf, from: page)
    }

    @Test("a replaced value, of any size, is placed anew (its old body becomes free space) and written")
    func replacedValues() throws {
        var (leaf, page) = Self.fullLeaf(seed: 5)
        _ = Self.remove(ranks: [3, 7], from: &leaf)
        Self.write(&leaf, over: &page)
        for (i, bytes) in [(4, 100), (9, 60), (4, 100), (0, 100)] {
            leaf.replaceValue(at: i, with: [UInt8](repeating: 0xEE, count: bytes))
            Self.write(&leaf, over: &page)
            try Self.expectReads(leaf, from: page)
        }
    }

    @Test("free space holding old bytes is never read: a leaf written over garbage reads back exactly")
    func garbageInFreeSpace() throws {
        var random = SplitMix64(seed: 4)
        var page = (0..<Self.pageBytes).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        var leaf = Node.emptyLeaf()
        leaf.next = 77
        for i in 0..<12 { leaf.insertEntry(name(i * 3), [UInt8](repeating: UInt8(i), count: 1 + i * 20), at: i) }
        Self.write(&leaf, over: &page)
        try Self.expectReads(leaf, from: page)
        #expect(page[1] == 0 && page[4..<8].allSatisfy { $0 == 0 }, "the header's unused bytes are zero")
        // A key absent from the leaf is not found among the old bytes.
        let missing = try name(4).withUnsafeBytes { key in try page.withUnsafeBytes { try NodeView.value($0, key: key, number: 9) } }
        #expect(missing == nil)
    }
}
