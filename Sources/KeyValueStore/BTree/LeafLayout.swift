import JournalPrimitives

// The slotted leaf (Docs/page-store.md, "Key-value store"):
//
//   0   1  kind 4
//   2   2  entry count n
//   4   4  0
//   8   8  the next leaf to the right (0: none)
//   16  2n body offsets (u16), in key order
//   ... bodies (key bytes u16, value bytes u16, key, value), each inside
//       [16 + 2n, page end), none overlapping; every other byte zero
//
// Why: a store journals the bytes of a page that changed (page deltas). In
// a leaf packed in key order, an insert moves every entry after it, and the
// delta carries the whole moved tail: about 700 bytes for a lone put. In a
// slotted leaf an entry keeps its place: an insert writes its body into the
// free space below the lowest body and moves only the slots after it, so
// the delta is the new body, a few slot bytes and the count.
//
// Placement (`place`), at flush: entries that have a place keep it; new or
// resized ones are put one below the other under the lowest body; when they
// do not fit above the slots, or a body lies where the slots now reach, the
// leaf is laid out afresh, bodies packed down from the page's end in key
// order. A split, merge or share lays both leaves out afresh.
//
// The packed leaf (kind 1) of stores written before is read; it is
// written slotted the next time it changes.

extension Node {
    /// Gives every entry without a place one (see above). Deterministic: the
    /// page a node encodes to depends only on its entries and their places,
    /// so a node cached after a commit encodes to the page committed.
    mutating func place(pageBytes: Int) {
        guard isLeaf, !isFree else { return }
        precondition(encodedBytes <= pageBytes, "a leaf is split before it overflows its page")
        let slotsEnd = Self.headerBytes + 2 * keys.count
        if bodyOffsets.count == keys.count {
            var lowest = pageBytes
            var wanted = 0
            var fits = true
            for (i, offset) in bodyOffsets.enumerated() {
                if offset == 0 {
                    wanted += 4 + keys[i].count + values[i].count
                } else if offset < slotsEnd {
                    fits = false
                } else {
                    lowest = min(lowest, offset)
                }
            }
            if fits && wanted <= lowest - slotsEnd {
                for i in bodyOffsets.indices where bodyOffsets[i] == 0 {
                    lowest -= 4 + keys[i].count + values[i].count
                    bodyOffsets[i] = lowest
                }
                return
            }
        }
        var at = pageBytes
        bodyOffsets = keys.indices.map { i in
            at -= 4 + keys[i].count + values[i].count
            return at
        }
        assert(at >= slotsEnd, "the entries of a leaf within a page fit packed")
    }

    /// Writes the slots and bodies of a placed leaf (`place`).
    func encodeSlottedLeaf(into b: UnsafeMutableRawBufferPointer) {
        precondition(bodyOffsets.count == keys.count && !bodyOffsets.contains(0), "a leaf is placed before it is encoded")
        b.storeLE64(next, at: 8)
        for i in keys.indices {
            let at = bodyOffsets[i]
            b.storeLE16(UInt16(at), at: Self.headerBytes + 2 * i)
            let k = keys[i], v = values[i]
            b.storeLE16(UInt16(k.count), at: at)
            b.storeLE16(UInt16(v.count), at: at + 2)
            UnsafeMutableRawBufferPointer(rebasing: b[(at + 4)..<(at + 4 + k.count)]).copyBytes(from: k)
            UnsafeMutableRawBufferPointer(rebasing: b[(at + 4 + k.count)..<(at + 4 + k.count + v.count)]).copyBytes(from: v)
        }
    }

    /// A slotted leaf; every body inside the page past the slots, none
    /// overlapping another.
    static func decodeSlottedLeaf(_ page: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> Node {
        let n = Int(page.le16(2))
        let slotsEnd = headerBytes + 2 * n
        guard slotsEnd <= page.count else { throw .corruption(page: number, detail: "slots overrun the page") }
        var node = Node(isLeaf: true)
        node.next = page.le64(8)
        node.keys.reserveCapacity(n)
        node.values.reserveCapacity(n)
        node.bodyOffsets.reserveCapacity(n)
        var extents: [(start: Int, end: Int)] = []
        extents.reserveCapacity(n)
        for i in 0..<n {
            let at = Int(page.le16(headerBytes + 2 * i))
            guard at >= slotsEnd, at + 4 <= page.count else { throw .corruption(page: number, detail: "a slot points outside the entries") }
            let k = Int(page.le16(at))
            let v = Int(page.le16(at + 2))
            let end = at + 4 + k + v
            guard end <= page.count else { throw .corruption(page: number, detail: "an entry overruns the page") }
            node.keys.append(Array(page[(at + 4)..<(at + 4 + k)]))
            node.values.append(Array(page[(at + 4 + k)..<end]))
            node.bodyOffsets.append(at)
            extents.append((at, end))
        }
        extents.sort { $0.start < $1.start }
        for (a, b) in zip(extents, extents.dropFirst()) where a.end > b.start {
            throw .corruption(page: number, detail: "entries overlap")
        }
        return node
    }

    /// A packed leaf (kind 1), written before leaves were slotted.
    static func decodePackedLeaf(_ page: UnsafeRawBufferPointer, number: UInt64) throws(KeyValueError) -> Node {
        let n = Int(page.le16(2))
        var node = Node(isLeaf: true)
        node.wasPacked = true
        node.next = page.le64(8)
        node.keys.reserveCapacity(n)
        node.values.reserveCapacity(n)
        var at = headerBytes
        for _ in 0..<n {
            guard at + 4 <= page.count else { throw .corruption(page: number, detail: "entries overrun the page") }
            let k = Int(page.le16(at))
            let v = Int(page.le16(at + 2))
            at += 4
            guard at + k + v <= page.count else { throw .corruption(page: number, detail: "entries overrun the page") }
            node.keys.append(Array(page[at..<(at + k)]))
            node.values.append(Array(page[(at + k)..<(at + k + v)]))
            at += k + v
        }
        node.forgetPlacement()
        return node
    }
}
