import JournalPrimitives

// The slotted leaf (Docs/page-store.md, "Key-value store"):
//
//   0   1  kind 4
//   1   1  0
//   2   2  entry count n
//   4   4  0
//   8   8  the next leaf to the right (0: none)
//   16  2n body offsets (u16), in key order
//   ... bodies (key bytes u16, value bytes u16, key, value), each inside
//       [16 + 2n, page end), none overlapping; every other byte is free
//       space, whatever it holds (old slots and bodies stay until
//       overwritten)
//
// Why: a store journals the bytes of a page that changed (page deltas). In
// a leaf packed in key order, an insert moves every entry after it, and the
// delta carries the whole moved tail: about 700 bytes for a lone put. In a
// slotted leaf an entry keeps its place: an insert writes its body into the
// free space below the lowest body and moves only the slots after it, so
// the delta is the new body, a few slot bytes and the count. A leaf is
// written over the page it replaces (`Node.encode(over:)`), so
// free space is not cleared: clearing it would journal it.
//
// Placement (`place`), at flush: entries that have a place keep it; new ones
// and replaced values are put one below the other under the lowest body. When they
// do not fit there, or the slots have grown into a body, those bodies go
// into the smallest free run that holds each (space a split, a delete or a
// replaced value left); only when one fits in none is the leaf compacted:
// its bodies slid up against the page's end in the order they lie (those
// above the highest free run stay), the new ones below them.
// A split leaves the left leaf's bodies where they are (its delta is its
// header and slots) and lays the right half out in its new page; a merge
// keeps the left leaf's bodies and places the right one's in its free
// space; a share keeps the left leaf's remaining bodies too.
//
// The packed leaf (kind 1) of stores written before is read; it is
// written slotted the next time it changes.

extension Node {
    /// Gives every entry without a place one (see above) and returns the
    /// entries whose bodies are to be written: those given a place, nil
    /// for all (after a compaction). Deterministic: the places depend only
    /// on the entries and the places they had.
    @discardableResult
    mutating func place(pageBytes: Int) -> [Int]? {
        guard isLeaf, !isFree else { return nil }
        // `encode` checks it in every build (a split comes first).
        assert(encodedBytes <= pageBytes && bodyOffsets.count == keys.count, "a leaf is split before it overflows its page")
        let slotsEnd = Self.headerBytes + 2 * keys.count
        // The common case: the new bodies fit between the slots and the
        // lowest body.
        var lowest = pageBytes
        var wanted = 0
        var slotsReachABody = false
        for (i, offset) in bodyOffsets.enumerated() {
            if offset == 0 {
                wanted += bodyBytes(i)
            } else if offset < slotsEnd {
                slotsReachABody = true
            } else {
                lowest = min(lowest, offset)
            }
        }
        if !slotsReachABody && wanted <= lowest - slotsEnd {
            var placed: [Int] = []
            for i in bodyOffsets.indices where bodyOffsets[i] == 0 {
                lowest -= bodyBytes(i)
                bodyOffsets[i] = lowest
                placed.append(i)
            }
            return placed
        }
        if let placed = placeInFreeRuns(slotsEnd: slotsEnd, pageBytes: pageBytes) { return placed }
        compact(pageBytes: pageBytes)
        return nil
    }

    /// Bytes of entry `i`'s body.
    private func bodyBytes(_ i: Int) -> Int { 4 + keys[i].count + values[i].count }

    /// Gives every entry without a place, and every body the slots have
    /// grown into, the smallest free run past the slots that holds it (at
    /// the run's top): the space that a split, a delete or a replaced value
    /// left. Returns the entries placed; nil, and nothing changed, when one
    /// fits in none.
    private mutating func placeInFreeRuns(slotsEnd: Int, pageBytes: Int) -> [Int]? {
        var offsets = bodyOffsets
        var used: [(start: Int, end: Int)] = []
        used.reserveCapacity(offsets.count)
        for i in offsets.indices {
            if offsets[i] != 0 && offsets[i] < slotsEnd { offsets[i] = 0 }
            if offsets[i] != 0 { used.append((offsets[i], offsets[i] + bodyBytes(i))) }
        }
        used.sort { $0.start < $1.start }
        var runs: [(start: Int, end: Int)] = []
        var at = slotsEnd
        for u in used {
            if u.start > at { runs.append((at, u.start)) }
            at = max(at, u.end)
        }
        if pageBytes > at { runs.append((at, pageBytes)) }
        var placed: [Int] = []
        for i in offsets.indices where offsets[i] == 0 {
            placed.append(i)
            let bytes = bodyBytes(i)
            var best = -1
            for r in runs.indices where runs[r].end - runs[r].start >= bytes {
                if best < 0 || runs[r].end - runs[r].start < runs[best].end - runs[best].start { best = r }
            }
            guard best >= 0 else { return nil }
            runs[best].end -= bytes
            offsets[i] = runs[best].end
        }
        bodyOffsets = offsets
        return placed
    }

    /// Compaction: the bodies slid up against the page's end in the order
    /// they lie, then the new ones in key order. Those above the highest
    /// free run keep their place, so the page changes from that run down,
    /// not wholly as it would were the bodies laid out in key order.
    private mutating func compact(pageBytes: Int) {
        let order = bodyOffsets.indices.sorted { a, b in
            let (oa, ob) = (bodyOffsets[a], bodyOffsets[b])
            if (oa == 0) != (ob == 0) { return ob == 0 }
            return oa != ob ? oa > ob : a < b
        }
        var at = pageBytes
        for i in order {
            at -= bodyBytes(i)
            bodyOffsets[i] = at
        }
        assert(at >= Self.headerBytes + 2 * keys.count, "the entries of a leaf within a page fit packed")
    }

    /// Writes the slots of a placed leaf (`place`) and its bodies at
    /// `bodies` (nil: all).
    func encodeSlottedLeaf(into b: UnsafeMutableRawBufferPointer, bodies: [Int]?) {
        precondition(bodyOffsets.count == keys.count && !bodyOffsets.contains(0), "a leaf is placed before it is encoded")
        b.storeLE64(next, at: 8)
        for i in keys.indices { b.storeLE16(UInt16(bodyOffsets[i]), at: Self.headerBytes + 2 * i) }
        if let bodies {
            for i in bodies { encodeBody(i, into: b) }
        } else {
            for i in keys.indices { encodeBody(i, into: b) }
        }
    }

    private func encodeBody(_ i: Int, into b: UnsafeMutableRawBufferPointer) {
        let at = bodyOffsets[i]
        let k = keys[i], v = values[i]
        b.storeLE16(UInt16(k.count), at: at)
        b.storeLE16(UInt16(v.count), at: at + 2)
        UnsafeMutableRawBufferPointer(rebasing: b[(at + 4)..<(at + 4 + k.count)]).copyBytes(from: k)
        UnsafeMutableRawBufferPointer(rebasing: b[(at + 4 + k.count)..<(at + 4 + k.count + v.count)]).copyBytes(from: v)
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
