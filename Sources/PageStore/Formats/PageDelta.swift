import JournalPrimitives

// A page delta: the bytes of a page that changed since its previous
// committed version, as a list of ranges. Normative description in
// Docs/page-store.md, "Transaction records".
//
//   a delta body is a sequence of ranges, each
//     0   4   offset in the page
//     4   4   length L (>= 1)
//     8   L   the new bytes
//   offsets strictly increase, ranges do not overlap, each ends inside the
//   page, and the ranges fill the body exactly.
//
// A B+tree insert changes a few bytes of one leaf (its slots, count and
// the new entry) and of the meta page: journaling those instead of two
// whole pages is what makes a lone durable put cheap.

/// Computing, encoding and applying page deltas.
enum PageDelta {
    /// Bytes of a range's header (offset and length).
    static let rangeHeaderBytes = 8
    /// The changed ranges of `new` against `base` (same length), in order,
    /// as (offset, length); empty when they are equal. Each range starts
    /// and ends on a changed byte.
    ///
    /// Compares 8-byte words: a run of changed words ends at the second
    /// equal word in a row (a gap of one equal word stays inside, as the
    /// range header would cost as much); then the first and last words are
    /// trimmed to their changed bytes. A tail shorter than a word is taken
    /// whole when it differs.
    static func changedRanges(base: UnsafeRawBufferPointer, new: UnsafeRawBufferPointer) -> [(offset: Int, count: Int)] {
        assert(base.count == new.count, "a delta compares pages of one size")
        let words = new.count / 8
        @inline(__always) func diff(_ w: Int) -> UInt64 {
            base.loadUnaligned(fromByteOffset: w &* 8, as: UInt64.self) ^ new.loadUnaligned(fromByteOffset: w &* 8, as: UInt64.self)
        }
        var ranges: [(offset: Int, count: Int)] = []
        var w = 0
        while w < words {
            let first = diff(w)
            if first == 0 {
                w &+= 1
                continue
            }
            var last = w
            var next = w &+ 1
            while next < words && next &- last <= 2 {
                if diff(next) != 0 { last = next }
                next &+= 1
            }
            // Little-endian: the word's first byte is its lowest.
            let start = w &* 8 &+ UInt64(littleEndian: first).trailingZeroBitCount / 8
            let end = last &* 8 &+ 8 &- UInt64(littleEndian: diff(last)).leadingZeroBitCount / 8
            ranges.append((start, end &- start))
            w = last &+ 1
        }
        let tail = words * 8
        if tail < new.count && !(tail..<new.count).allSatisfy({ base[$0] == new[$0] }) {
            ranges.append((tail, new.count - tail))
        }
        return ranges
    }

    /// Bytes of the delta body that carries `ranges`.
    static func bodyBytes(_ ranges: [(offset: Int, count: Int)]) -> Int {
        ranges.reduce(0) { $0 + rangeHeaderBytes + $1.count }
    }

    /// Writes the delta body of `ranges` (bytes taken from `new`) at `at`
    /// in `out`; returns the offset after it.
    static func encode(_ ranges: [(offset: Int, count: Int)], from new: UnsafeRawBufferPointer,
                       into out: UnsafeMutableRawBufferPointer, at: Int) -> Int {
        var at = at
        for r in ranges {
            out.storeLE32(UInt32(r.offset), at: at)
            out.storeLE32(UInt32(r.count), at: at + 4)
            at += rangeHeaderBytes
            UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + r.count)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: new[r.offset..<(r.offset + r.count)]))
            at += r.count
        }
        return at
    }

    /// Validates a delta body for a page of `pageBytes` bytes: nil if it
    /// is well formed, else why not.
    static func problem(in body: UnsafeRawBufferPointer, pageBytes: Int) -> String? {
        var at = 0
        var pageEnd = 0
        while at < body.count {
            guard body.count - at >= rangeHeaderBytes else { return "delta range header cut at body offset \(at)" }
            let offset = Int(body.le32(at)), count = Int(body.le32(at + 4))
            guard count >= 1 else { return "empty delta range at page offset \(offset)" }
            guard at == 0 || offset >= pageEnd else { return "delta ranges overlap or go backwards at page offset \(offset)" }
            guard offset + count <= pageBytes else { return "delta range \(offset)+\(count) ends past the page (\(pageBytes) bytes)" }
            guard body.count - at - rangeHeaderBytes >= count else { return "delta range \(offset)+\(count) runs past its body" }
            at += rangeHeaderBytes + count
            pageEnd = offset + count
        }
        return nil
    }

    /// Applies a delta body (validated by `problem(in:pageBytes:)`) onto
    /// `page`, the previous version of the page.
    static func apply(_ body: UnsafeRawBufferPointer, to page: UnsafeMutableRawBufferPointer) {
        var at = 0
        while at < body.count {
            let offset = Int(body.le32(at)), count = Int(body.le32(at + 4))
            at += rangeHeaderBytes
            UnsafeMutableRawBufferPointer(rebasing: page[offset..<(offset + count)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: body[at..<(at + count)]))
            at += count
        }
    }
}
