import Journal
import JournalPrimitives
import JournalTesting
@testable import PageStore
import Testing

/// Page deltas: computing the changed ranges, the version-2 record that
/// carries them, bad input, and the store journaling and recovering them.
@Suite("Page store: page deltas")
struct PageDeltaTests {
    static let pageBytes = 4096

    func randomPage(_ rng: inout SplitMix64) -> [UInt8] {
        (0..<Self.pageBytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// `base` with `edits` random runs overwritten.
    func edited(_ base: [UInt8], edits: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var out = base
        for _ in 0..<edits {
            let at = Int(rng.next() % UInt64(Self.pageBytes))
            let count = min(Int(rng.next() % 64) + 1, Self.pageBytes - at)
            for i in at..<(at + count) { out[i] = out[i] &+ 1 }
        }
        return out
    }

    func body(_ base: [UInt8], _ new: [UInt8]) -> (ranges: [(offset: Int, count: Int)], body: [UInt8]) {
        let ranges = base.withUnsafeBytes { b in new.withUnsafeBytes { PageDelta.changedRanges(base: b, new: $0) } }
        var out = [UInt8](repeating: 0, count: PageDelta.bodyBytes(ranges))
        let end = out.withUnsafeMutableBytes { o in new.withUnsafeBytes { PageDelta.encode(ranges, from: $0, into: o, at: 0) } }
        #expect(end == out.count)
        return (ranges, out)
    }

    @Test("a delta carries exactly the changed bytes: applied onto the base it gives the new page")
    func roundTrip() {
        var rng = SplitMix64(seed: 16)
        for trial in 0..<200 {
            let base = randomPage(&rng)
            let new = edited(base, edits: trial % 12, &rng)
            let (ranges, delta) = body(base, new)
            #expect(delta.withUnsafeBytes { PageDelta.problem(in: $0, pageBytes: Self.pageBytes) } == nil)
            var patched = base
            patched.withUnsafeMutableBytes { p in delta.withUnsafeBytes { PageDelta.apply($0, to: p) } }
            #expect(patched == new, "trial \(trial)")
            if base == new { #expect(ranges.isEmpty) }
            for r in ranges { #expect(base[r.offset] != new[r.offset] && base[r.offset + r.count - 1] != new[r.offset + r.count - 1]) }
        }
    }

    @Test("changes a few equal bytes apart share a range; changes far apart do not")
    func gapsMerge() {
        let base = [UInt8](repeating: 0, count: Self.pageBytes)
        var near = base
        near[100] = 1
        near[105] = 1
        #expect(body(base, near).ranges.map { [$0.offset, $0.count] } == [[100, 6]])
        var far = base
        far[100] = 1
        far[200] = 1
        far[4095] = 1
        #expect(body(base, far).ranges.map { [$0.offset, $0.count] } == [[100, 1], [200, 1], [4095, 1]])
    }

    @Test("a record of images and deltas decodes to its pages; the deltas rebuild the new images")
    func recordRoundTrip() throws {
        var rng = SplitMix64(seed: 7)
        let bases = (0..<3).map { _ in randomPage(&rng) }
        let news = bases.map { edited($0, edits: 3, &rng) }
        let writes = [
            TransactionRecord.PageWrite(number: 2, image: news[0], delta: body(bases[0], news[0]).ranges),
            TransactionRecord.PageWrite(number: 5, image: news[1], delta: nil),
            TransactionRecord.PageWrite(number: 9, image: news[2], delta: body(bases[2], news[2]).ranges),
        ]
        let (record, offsets) = TransactionRecord.encode(txid: 42, pageBytes: Self.pageBytes, pages: writes)
        #expect(record.count == TransactionRecord.recordBytes(writes, pageBytes: Self.pageBytes))
        #expect(record.count < TransactionRecord.recordBytes(pageCount: 2, pageBytes: Self.pageBytes), "two deltas and one image")
        #expect(offsets[0] == nil && offsets[2] == nil)
        let decoded = try record.withUnsafeBytes { try TransactionRecord.decode($0, pageBytes: Self.pageBytes) }
        #expect(decoded.txid == 42)
        #expect(decoded.pageNumbers == [2, 5, 9])
        #expect(decoded.pages.map(\.kind) == [.delta, .image, .delta])
        #expect(decoded.pages[1].body.lowerBound == offsets[1])
        #expect(Array(record[decoded.pages[1].body]) == news[1])
        for i in [0, 2] {
            var patched = bases[i]
            patched.withUnsafeMutableBytes { p in record.withUnsafeBytes { PageDelta.apply(UnsafeRawBufferPointer(rebasing: $0[decoded.pages[i].body]), to: p) } }
            #expect(patched == news[i])
        }
    }

    @Test("a version-1 record (whole images) still decodes")
    func versionOne() throws {
        let images = [[UInt8](repeating: 3, count: Self.pageBytes), [UInt8](repeating: 4, count: Self.pageBytes)]
        var body = [UInt8](repeating: 0, count: 16)
        body.withUnsafeMutableBytes { $0.storeLE64(10, at: 0); $0.storeLE64(11, at: 8) }
        let record = handMadeRecord(version: 1, txid: 7, pageCount: 2, after: body + images[0] + images[1])
        let decoded = try record.withUnsafeBytes { try TransactionRecord.decode($0, pageBytes: Self.pageBytes) }
        #expect(decoded.txid == 7 && decoded.pageNumbers == [10, 11])
        #expect(decoded.pages.map { Array(record[$0.body]) } == images)
    }

    /// A one-page record (page 3) whose delta body is `delta` (checksum valid).
    func deltaRecord(_ delta: [UInt8], kind: UInt16 = 1) -> [UInt8] {
        var entry = [UInt8](repeating: 0, count: 16)
        entry.withUnsafeMutableBytes { e in
            e.storeLE64(3, at: 0)
            e.storeLE16(kind, at: 8)
            e.storeLE32(UInt32(delta.count), at: 12)
        }
        return handMadeRecord(version: 2, txid: 1, pageCount: 1, after: entry + delta)
    }

    /// A delta range: offset, length, then `bytes` filler bytes.
    func range(_ offset: UInt32, _ count: UInt32, bytes: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0xAB, count: 8 + bytes)
        out.withUnsafeMutableBytes { $0.storeLE32(offset, at: 0); $0.storeLE32(count, at: 4) }
        return out
    }

    @Test("corrupt delta ranges are refused with a typed error, never applied",
          arguments: ["past the page", "overlap", "backwards", "empty", "cut header", "past the body", "unknown kind"])
    func corruptDeltas(_ fault: String) {
        let delta: [UInt8]
        var kind: UInt16 = 1
        switch fault {
        case "past the page": delta = range(4090, 8, bytes: 8)
        case "overlap": delta = range(100, 8, bytes: 8) + range(104, 2, bytes: 2)
        case "backwards": delta = range(100, 2, bytes: 2) + range(50, 2, bytes: 2)
        case "empty": delta = range(100, 0, bytes: 0)
        case "cut header": delta = range(100, 2, bytes: 2) + [1, 2, 3]
        case "past the body": delta = range(100, 20, bytes: 4)
        default: (delta, kind) = (range(100, 2, bytes: 2), 7)
        }
        let record = deltaRecord(delta, kind: kind)
        #expect(throws: TransactionRecord.Problem.self) {
            try record.withUnsafeBytes { _ = try TransactionRecord.decode($0, pageBytes: Self.pageBytes) }
        }
        let valid = deltaRecord(range(100, 2, bytes: 2) + range(4094, 2, bytes: 2))
        #expect((try? valid.withUnsafeBytes { try TransactionRecord.decode($0, pageBytes: Self.pageBytes) }) != nil)
    }
}

/// A transaction record of 4 KiB pages as a reader meets it: the header,
/// `after` (entries or numbers, then bodies), a valid checksum.
func handMadeRecord(version: UInt16, txid: UInt64, pageCount: UInt32, after: [UInt8]) -> [UInt8] {
    var record = [UInt8](repeating: 0, count: 24) + after + [0, 0, 0, 0]
    record.withUnsafeMutableBytes { b in
        b.storeLE32(TransactionRecord.magic, at: 0)
        b.storeLE16(version, at: 4)
        b.storeLE64(txid, at: 8)
        b.storeLE32(4096, at: 16)
        b.storeLE32(pageCount, at: 20)
        b.storeLE32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<(b.count - 4)])), at: b.count - 4)
    }
    return record
}
