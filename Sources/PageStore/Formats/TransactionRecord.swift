import Journal
import JournalPrimitives

// A transaction record: the journal payload of one committed transaction.
// Normative description in Docs/page-store.md, "Transaction records".
//
// Version 2 (written):
//
//   offset        size      field
//   0             4         magic "PSTX"
//   4             2         version (2)
//   6             2         flags (0)
//   8             8         transaction id
//   16            4         page bytes P
//   20            4         page count n (>= 1)
//   24            16n       entries: page number (8, strictly increasing),
//                           body kind (2: 0 image, 1 delta), 0 (2),
//                           body bytes (4: P for an image)
//   24+16n        sum       the bodies, in the order of the entries
//   end-4         4         CRC32C of every byte before it
//
// Version 1 (read only): the same header, then n page numbers (8 each),
// then n whole images, then the CRC32C.
//
// The journal checksums every payload too; this checksum makes the record
// self-validating wherever it is copied, and catches an encoder bug.

/// The encoding of transaction records.
public enum TransactionRecord {
    /// The first four bytes of every record: "PSTX".
    public static let magic = magic32("PSTX")
    /// The record format version this code writes (and the newest it reads).
    public static let version: UInt16 = 2
    static let headerBytes = 24
    static let entryBytes = 16
    static let trailerBytes = 4

    /// How a page's new version is carried.
    enum BodyKind: UInt16 {
        /// The whole image.
        case image = 0
        /// The ranges changed since the page's previous version (PageDelta.swift).
        case delta = 1
    }

    /// One page of a record to encode: its image, and the ranges changed
    /// since its previous version when the record carries a delta.
    struct PageWrite {
        var number: UInt64
        var image: [UInt8]
        var delta: [(offset: Int, count: Int)]?
    }

    /// The largest record of a transaction of `pageCount` pages (every
    /// page a whole image).
    public static func recordBytes(pageCount: Int, pageBytes: Int) -> Int {
        headerBytes + pageCount * (entryBytes + pageBytes) + trailerBytes
    }

    /// The most pages a record of at most `recordBytesMax` bytes holds.
    static func pagesMax(recordBytesMax: Int, pageBytes: Int) -> Int {
        (recordBytesMax - recordBytes(pageCount: 0, pageBytes: pageBytes)) / (entryBytes + pageBytes)
    }

    /// The size of the record of `pages`.
    static func recordBytes(_ pages: [PageWrite], pageBytes: Int) -> Int {
        pages.reduce(headerBytes + trailerBytes) { sum, p in
            sum + entryBytes + (p.delta.map(PageDelta.bodyBytes) ?? pageBytes)
        }
    }

    /// Encodes `pages` (sorted by number, each image `pageBytes` long).
    /// Returns the record and, per page, the offset of its image in the
    /// record (nil for a delta).
    static func encode(txid: UInt64, pageBytes: Int, pages: [PageWrite]) -> (record: [UInt8], imageOffsets: [Int?]) {
        assert(!pages.isEmpty, "a transaction record holds at least one page")
        let n = pages.count
        let total = recordBytes(pages, pageBytes: pageBytes)
        var offsets: [Int?] = []
        offsets.reserveCapacity(n)
        var out = [UInt8](repeating: 0, count: total)
        out.withUnsafeMutableBytes { b in
            b.storeLE32(magic, at: 0)
            b.storeLE16(version, at: 4)
            b.storeLE16(UInt16(0), at: 6)
            b.storeLE64(txid, at: 8)
            b.storeLE32(UInt32(pageBytes), at: 16)
            b.storeLE32(UInt32(n), at: 20)
            var at = headerBytes + entryBytes * n
            for (i, page) in pages.enumerated() {
                assert(i == 0 || pages[i - 1].number < page.number, "page numbers strictly increase")
                assert(page.image.count == pageBytes, "whole pages only")
                let entry = headerBytes + entryBytes * i
                b.storeLE64(page.number, at: entry)
                let start = at
                page.image.withUnsafeBytes { src in
                    if let delta = page.delta {
                        at = PageDelta.encode(delta, from: src, into: b, at: at)
                        offsets.append(nil)
                    } else {
                        UnsafeMutableRawBufferPointer(rebasing: b[at..<(at + pageBytes)]).copyMemory(from: src)
                        offsets.append(at)
                        at += pageBytes
                    }
                }
                b.storeLE16((page.delta == nil ? BodyKind.image : .delta).rawValue, at: entry + 8)
                b.storeLE32(UInt32(at - start), at: entry + 12)
            }
            assert(at == total - trailerBytes, "the bodies fill the record")
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<(total - trailerBytes)]))
            b.storeLE32(crc, at: total - trailerBytes)
        }
        return (out, offsets)
    }

    /// One page of a validated record: its number and where its body is.
    struct DecodedPage: Equatable {
        var number: UInt64
        var kind: BodyKind
        /// The body's bytes in the record.
        var body: Range<Int>
    }

    /// A validated view of a record's header and pages.
    struct Decoded {
        var txid: UInt64
        var pages: [DecodedPage]
        var pageNumbers: [UInt64] { pages.map(\.number) }
    }

    enum Problem: Error, Equatable {
        case corrupt(String)
        case newerVersion(UInt16)
    }

    /// Validates `bytes` as a record of `pageBytes` pages (version 1 or 2,
    /// deltas included) and returns its header and pages.
    static func decode(_ bytes: UnsafeRawBufferPointer, pageBytes: Int) throws(Problem) -> Decoded {
        guard bytes.count >= headerBytes + trailerBytes else { throw .corrupt("record of \(bytes.count) bytes is shorter than a header") }
        guard bytes.le32(0) == magic else { throw .corrupt("bad magic") }
        let version = bytes.le16(4)
        guard version <= Self.version else { throw .newerVersion(version) }
        guard version >= 1 else { throw .corrupt("version 0") }
        guard Int(bytes.le32(16)) == pageBytes else { throw .corrupt("page size differs from the store's") }
        let n = Int(bytes.le32(20))
        let end = bytes.count - trailerBytes
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
        guard crc == bytes.le32(end) else { throw .corrupt("checksum mismatch") }
        guard n >= 1 else { throw .corrupt("a record of no pages") }
        let pages = version == 1 ? try pagesV1(bytes, n: n, pageBytes: pageBytes) : try pagesV2(bytes, n: n, pageBytes: pageBytes)
        for i in pages.indices.dropFirst() where pages[i - 1].number >= pages[i].number {
            throw .corrupt("page numbers do not increase")
        }
        return Decoded(txid: bytes.le64(8), pages: pages)
    }

    private static func pagesV1(_ bytes: UnsafeRawBufferPointer, n: Int, pageBytes: Int) throws(Problem) -> [DecodedPage] {
        guard headerBytes + n * (8 + pageBytes) + trailerBytes == bytes.count else {
            throw .corrupt("page count \(n) does not match the record size \(bytes.count)")
        }
        return (0..<n).map { i in
            let at = headerBytes + 8 * n + i * pageBytes
            return DecodedPage(number: bytes.le64(headerBytes + 8 * i), kind: .image, body: at..<(at + pageBytes))
        }
    }

    private static func pagesV2(_ bytes: UnsafeRawBufferPointer, n: Int, pageBytes: Int) throws(Problem) -> [DecodedPage] {
        let end = bytes.count - trailerBytes
        guard n <= (end - headerBytes) / entryBytes else { throw .corrupt("page count \(n) does not match the record size \(bytes.count)") }
        var pages: [DecodedPage] = []
        pages.reserveCapacity(n)
        var at = headerBytes + entryBytes * n
        for i in 0..<n {
            let entry = headerBytes + entryBytes * i
            let number = bytes.le64(entry)
            let count = Int(bytes.le32(entry + 12))
            guard let kind = BodyKind(rawValue: bytes.le16(entry + 8)), bytes.le16(entry + 10) == 0 else {
                throw .corrupt("page \(number): unknown body kind \(bytes.le16(entry + 8))")
            }
            guard count <= end - at else { throw .corrupt("page \(number): body of \(count) bytes runs past the record") }
            let body = at..<(at + count)
            switch kind {
            case .image:
                guard count == pageBytes else { throw .corrupt("page \(number): image of \(count) bytes") }
            case .delta:
                if let why = PageDelta.problem(in: UnsafeRawBufferPointer(rebasing: bytes[body]), pageBytes: pageBytes) {
                    throw .corrupt("page \(number): \(why)")
                }
            }
            pages.append(DecodedPage(number: number, kind: kind, body: body))
            at += count
        }
        guard at == end else { throw .corrupt("page count \(n) does not match the record size \(bytes.count)") }
        return pages
    }
}
