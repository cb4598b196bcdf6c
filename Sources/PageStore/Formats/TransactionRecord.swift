import Journal
import JournalPrimitives

// A transaction record: the journal payload of one committed transaction.
// Normative description in Docs/page-store.md, "Transaction records".
//
//   offset        size      field
//   0             4         magic "PSTX"
//   4             2         version (1)
//   6             2         flags (0)
//   8             8         transaction id
//   16            4         page bytes
//   20            4         page count n (>= 1)
//   24            8n        page numbers, strictly increasing
//   24+8n         n*P       page images, in the order of the numbers
//   24+8n+nP      4         CRC32C of bytes [0, 24+8n+nP)
//
// The journal checksums every payload too; this checksum makes the record
// self-validating wherever it is copied, and catches an encoder bug.

/// The encoding of transaction records.
public enum TransactionRecord {
    /// The first four bytes of every record: "PSTX".
    public static let magic = magic32("PSTX")
    /// The record format version this code writes and reads.
    public static let version: UInt16 = 1
    static let headerBytes = 24
    static let trailerBytes = 4

    /// The record size of a transaction of `pageCount` pages.
    public static func recordBytes(pageCount: Int, pageBytes: Int) -> Int {
        headerBytes + pageCount * (8 + pageBytes) + trailerBytes
    }

    /// The most pages a record of at most `recordBytesMax` bytes holds.
    static func pagesMax(recordBytesMax: Int, pageBytes: Int) -> Int {
        (recordBytesMax - recordBytes(pageCount: 0, pageBytes: pageBytes)) / (8 + pageBytes)
    }

    /// Offset of the image of the `index`-th page inside a record.
    static func imageOffset(index: Int, pageCount: Int, pageBytes: Int) -> Int {
        headerBytes + 8 * pageCount + index * pageBytes
    }

    /// Encodes `pages` (sorted by number, each `pageBytes` long).
    static func encode(txid: UInt64, pageBytes: Int, pages: [(number: UInt64, image: [UInt8])]) -> [UInt8] {
        assert(!pages.isEmpty, "a transaction record holds at least one page")
        let n = pages.count
        let total = recordBytes(pageCount: n, pageBytes: pageBytes)
        var out = [UInt8](repeating: 0, count: total)
        out.withUnsafeMutableBytes { b in
            b.storeLE32(magic, at: 0)
            b.storeLE16(version, at: 4)
            b.storeLE16(UInt16(0), at: 6)
            b.storeLE64(txid, at: 8)
            b.storeLE32(UInt32(pageBytes), at: 16)
            b.storeLE32(UInt32(n), at: 20)
            for (i, page) in pages.enumerated() {
                assert(i == 0 || pages[i - 1].number < page.number, "page numbers strictly increase")
                assert(page.image.count == pageBytes, "whole pages only")
                b.storeLE64(page.number, at: headerBytes + 8 * i)
                let at = imageOffset(index: i, pageCount: n, pageBytes: pageBytes)
                page.image.withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(rebasing: b[at..<(at + pageBytes)]).copyMemory(from: src)
                }
            }
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<(total - trailerBytes)]))
            b.storeLE32(crc, at: total - trailerBytes)
        }
        return out
    }

    /// A validated view of a record's header and page list.
    struct Decoded {
        var txid: UInt64
        var pageNumbers: [UInt64]
    }

    enum Problem: Error, Equatable {
        case corrupt(String)
        case newerVersion(UInt16)
    }

    /// Validates `bytes` as a record of `pageBytes` pages and returns its
    /// header and page list.
    static func decode(_ bytes: UnsafeRawBufferPointer, pageBytes: Int) throws(Problem) -> Decoded {
        guard bytes.count >= headerBytes + trailerBytes else { throw .corrupt("record of \(bytes.count) bytes is shorter than a header") }
        guard bytes.le32(0) == magic else { throw .corrupt("bad magic") }
        let version = bytes.le16(4)
        guard version <= Self.version else { throw .newerVersion(version) }
        guard Int(bytes.le32(16)) == pageBytes else { throw .corrupt("page size differs from the store's") }
        let n = Int(bytes.le32(20))
        guard n >= 1, recordBytes(pageCount: n, pageBytes: pageBytes) == bytes.count else {
            throw .corrupt("page count \(n) does not match the record size \(bytes.count)")
        }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count - trailerBytes)]))
        guard crc == bytes.le32(bytes.count - trailerBytes) else { throw .corrupt("checksum mismatch") }
        var numbers: [UInt64] = []
        numbers.reserveCapacity(n)
        for i in 0..<n {
            let number = bytes.le64(headerBytes + 8 * i)
            if let last = numbers.last, last >= number { throw .corrupt("page numbers do not increase") }
            numbers.append(number)
        }
        return Decoded(txid: bytes.le64(8), pageNumbers: numbers)
    }
}
