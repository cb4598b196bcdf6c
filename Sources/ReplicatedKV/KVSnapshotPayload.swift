import JournalPrimitives
import KeyValueStore

/// Raft's snapshot data for the replicated store (raft-log-format.md,
/// section 6.2): the key-value store's pages at one commit, behind a
/// checksummed header. Version 1:
///
/// | offset | field |
/// |---|---|
/// | 0 | magic u64 ("RKVPAGES") |
/// | 8 | version u32 = 1 |
/// | 12 | page bytes u32 |
/// | 16 | raft index u64: the pages hold every command through it |
/// | 24 | page count u64 |
/// | 32 | the store's LSN of the pages u64 (informative) |
/// | 40 | CRC32C of the pages u32 |
/// | 44 | CRC32C of bytes 0..<44 u32 |
/// | 48 | the pages, page 0 first |
///
/// Snapshots written before this format hold a `KVImage`, which `decode`
/// still reads.
enum KVSnapshotPayload {
    static let magic: UInt64 = 0x5345_4741_5056_4B52
    static let version: UInt32 = 1
    static let headerBytes = 48

    /// The header of a pages payload.
    struct Header: Equatable {
        var appliedIndex: UInt64
        var pageBytes: Int
        var pageCount: Int
        var lsn: UInt64
    }

    /// A payload decoded: the pages (a view into the decoded bytes), or an
    /// image of the older format.
    enum Decoded {
        case pages(Header, UnsafeRawBufferPointer)
        case image(KVImage)
    }

    /// The bytes of the payload holding `pages`.
    static func byteCount(_ pages: KeyValuePages) -> Int { headerBytes + pages.bytes.count }

    /// Writes the payload of `pages`, which hold every command through
    /// `appliedIndex`, into `out` (exactly `byteCount(pages)` bytes).
    static func encode(appliedIndex: UInt64, pages: KeyValuePages, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count == byteCount(pages), "a payload buffer of the wrong size")
        let body = UnsafeMutableRawBufferPointer(rebasing: out[headerBytes...])
        pages.bytes.withUnsafeBytes { body.copyMemory(from: $0) }
        out.storeLE64(magic, at: 0)
        out.storeLE32(version, at: 8)
        out.storeLE32(UInt32(pages.pageBytes), at: 12)
        out.storeLE64(appliedIndex, at: 16)
        out.storeLE64(UInt64(pages.pageCount), at: 24)
        out.storeLE64(pages.lsn, at: 32)
        out.storeLE32(CRC32C.checksum(UnsafeRawBufferPointer(body)), at: 40)
        out.storeLE32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: out[0..<44])), at: 44)
    }

    /// The payload in `b`, or nil when it is damaged (a checksum, a length)
    /// or neither format.
    static func decode(_ b: UnsafeRawBufferPointer) -> Decoded? {
        guard b.count >= 8 else { return nil }
        if b.le64(0) == KVImage.magic { return KVImage(decoding: b).map(Decoded.image) }
        guard b.count >= headerBytes, b.le64(0) == magic, b.le32(8) == version,
              CRC32C.checksum(b.slice(0, 44)) == b.le32(44) else { return nil }
        let pageBytes = Int(b.le32(12))
        let pageCount = b.le64(24)
        guard pageBytes > 0, pageCount >= 1, pageCount <= UInt64((b.count - headerBytes) / pageBytes),
              Int(pageCount) * pageBytes == b.count - headerBytes else { return nil }
        let pages = b.slice(headerBytes, b.count - headerBytes)
        guard CRC32C.checksum(pages) == b.le32(40) else { return nil }
        let header = Header(appliedIndex: b.le64(16), pageBytes: pageBytes, pageCount: Int(pageCount), lsn: b.le64(32))
        return .pages(header, pages)
    }
}
