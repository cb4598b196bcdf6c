import JournalPrimitives

// The on-disk layout, as specified normatively in journal-format.md. This
// file and that document change together; a change that old files cannot be
// read with bumps `JournalFormat.version`.

/// Log sequence number: the position of a record in the journal. The first
/// record of a journal has LSN 1; 0 means "none".
public typealias LSN = UInt64

/// Constants of the on-disk format.
public enum JournalFormat {
    /// The format version this code writes, and the newest it reads.
    public static let version: UInt32 = 1

    /// Name of the metadata file in a journal directory.
    public static let metadataFileName = "journal.meta"
    /// Bytes of the metadata file (one block of the smallest block size).
    public static let metadataBytes = 4096
    /// Segment files are named by their index as 16 lowercase hex digits.
    public static let segmentFileSuffix = ".seg"
    /// Released segments waiting for reuse are named `spare-<n>.seg`.
    public static let spareFilePrefix = "spare-"

    static let metadataMagic: [UInt8] = Array("SWJNLMTA".utf8)
    static let segmentMagic: [UInt8] = Array("SWJNLSEG".utf8)

    /// The largest LSN a journal uses. Readers reject larger ones, so that
    /// LSN arithmetic (the next LSN, a range's end) can never overflow.
    public static let lsnMax: LSN = 1 << 62

    /// Bytes of the segment header at the start of every segment.
    public static let segmentHeaderBytes = 128
    /// Bytes of every fragment header.
    public static let fragmentHeaderBytes = 40
    /// Fragments start at offsets that are multiples of this.
    public static let fragmentAlignment = 8

    /// Smallest and largest block (batch alignment) and page sizes.
    public static let blockBytesRange = 512...(1 << 20)
    /// See `blockBytesRange`.
    public static let pageBytesRange = 4096...(1 << 24)

    /// The salt of a segment activation: a function of the journal, the
    /// segment index and the writer's epoch (journal-format.md, section 4),
    /// so that a reused file, or one reactivated after a crash, never
    /// validates old bytes, and fragments behind a damaged segment header can
    /// still be checked with the salt their own epoch implies.
    public static func salt(journalID: UInt64, index: UInt64, epoch: UInt32) -> UInt64 {
        var x = journalID ^ (index &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(epoch) &* 0xC2B2_AE3D_27D4_EB4F)
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 31)
    }

    /// The file name of segment `index`: 16 lowercase hex digits and
    /// `segmentFileSuffix`.
    public static func segmentFileName(index: UInt64) -> String {
        let hex = String(index, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex + segmentFileSuffix
    }

    /// The index named by a segment file name, or nil for other names.
    public static func segmentIndex(fileName: String) -> UInt64? {
        guard fileName.hasSuffix(segmentFileSuffix) else { return nil }
        let stem = fileName.dropLast(segmentFileSuffix.count)
        guard stem.count == 16, let index = UInt64(stem, radix: 16) else { return nil }
        return index
    }
}

/// What is wrong with a header that fails to decode.
enum HeaderProblem: Error, Equatable {
    case badMagic
    case badChecksum
    case newerVersion(UInt32)
    case invalidField(String)
}

/// A fragment's place in its record (journal-format.md, "Fragments").
public enum FragmentType: UInt8, Sendable {
    /// A whole record in one fragment.
    case full = 1
    /// The first fragment of a record spread over pages.
    case first = 2
    /// A fragment between the first and the last.
    case middle = 3
    /// The last fragment of a record spread over pages.
    case last = 4

    var startsRecord: Bool { self == .full || self == .first }
    var endsRecord: Bool { self == .full || self == .last }
}

// MARK: - Metadata

/// The journal's creation-time parameters, in `journal.meta`. Written once
/// by `create`, never rewritten.
struct JournalMetadata: Equatable, Sendable {
    var journalID: UInt64
    var segmentBytes: Int
    var segmentCountMax: Int
    var recordBytesMax: Int
    var blockBytes: Int
    var pageBytes: Int
    var createdUnixNanos: UInt64

    // Field offsets (journal-format.md, "Metadata file").
    static let crcOffset = 124

    func encode(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= JournalFormat.metadataBytes)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        for (i, b) in JournalFormat.metadataMagic.enumerated() { buffer[i] = b }
        buffer.storeLE32(JournalFormat.version, at: 8)
        buffer.storeLE32(0, at: 12)
        buffer.storeLE64(journalID, at: 16)
        buffer.storeLE64(UInt64(segmentBytes), at: 24)
        buffer.storeLE32(UInt32(segmentCountMax), at: 32)
        buffer.storeLE32(UInt32(recordBytesMax), at: 36)
        buffer.storeLE32(UInt32(blockBytes), at: 40)
        buffer.storeLE32(UInt32(pageBytes), at: 44)
        buffer.storeLE64(createdUnixNanos, at: 48)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(buffer).slice(0, Self.crcOffset))
        buffer.storeLE32(crc, at: Self.crcOffset)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(HeaderProblem) -> JournalMetadata {
        guard bytes.count >= 128 else { throw .badMagic }
        guard bytes.slice(0, 8).elementsEqual(JournalFormat.metadataMagic) else { throw .badMagic }
        let version = bytes.le32(8)
        guard CRC32C.checksum(bytes.slice(0, crcOffset)) == bytes.le32(crcOffset) else { throw .badChecksum }
        guard version <= JournalFormat.version else { throw .newerVersion(version) }
        guard version >= 1 else { throw .invalidField("version 0") }
        guard bytes.le32(12) == 0 else { throw .invalidField("flags") }
        let meta = JournalMetadata(
            journalID: bytes.le64(16),
            segmentBytes: Int(truncatingIfNeeded: bytes.le64(24)),
            segmentCountMax: Int(bytes.le32(32)),
            recordBytesMax: Int(bytes.le32(36)),
            blockBytes: Int(bytes.le32(40)),
            pageBytes: Int(bytes.le32(44)),
            createdUnixNanos: bytes.le64(48))
        if let problem = meta.validationProblem() { throw .invalidField(problem) }
        return meta
    }

    /// Why these parameters cannot describe a journal, or nil when they can.
    func validationProblem() -> String? {
        func isPowerOfTwo(_ v: Int) -> Bool { v > 0 && v & (v - 1) == 0 }
        if !isPowerOfTwo(blockBytes) || !JournalFormat.blockBytesRange.contains(blockBytes) {
            return "block size \(blockBytes) is not a power of two in \(JournalFormat.blockBytesRange)"
        }
        if !isPowerOfTwo(pageBytes) || !JournalFormat.pageBytesRange.contains(pageBytes) || pageBytes < blockBytes {
            return "page size \(pageBytes) is not a power of two in \(JournalFormat.pageBytesRange) and at least the block size"
        }
        if segmentBytes <= 0 || segmentBytes % pageBytes != 0 {
            return "segment size \(segmentBytes) is not a positive multiple of the page size \(pageBytes)"
        }
        if recordBytesMax < 0 || recordBytesMax > Int(UInt32.max) {
            return "maximum record size \(recordBytesMax) out of range"
        }
        // A record of the maximum size, fragmented, must fit in an empty segment.
        let needed = FragmentLayout(pageBytes: pageBytes).encodedEnd(payloadBytes: recordBytesMax, at: JournalFormat.segmentHeaderBytes)
        if needed > segmentBytes {
            return "maximum record size \(recordBytesMax) does not fit in a segment of \(segmentBytes) bytes"
        }
        if segmentCountMax < 0 || segmentCountMax == 1 {
            return "segment count limit \(segmentCountMax) must be 0 (none) or at least 2"
        }
        return nil
    }
}

// MARK: - Segment header

/// The header at offset 0 of every segment in use (journal-format.md,
/// "Segment header"). Written with the segment's first batch.
struct SegmentHeader: Equatable, Sendable {
    var journalID: UInt64
    var segmentIndex: UInt64
    /// LSN of the first record that starts in this segment.
    var baseLSN: LSN
    /// Random per activation: every fragment checksum in the segment covers it.
    var salt: UInt64
    /// The writer session that activated the segment.
    var epoch: UInt32
    var blockBytes: Int
    var pageBytes: Int
    /// The most bytes the writer may have had in flight past any durable point.
    var windowBytes: Int
    /// Header checksum of the last fragment of the previous segment (0 when
    /// the previous segment holds no fragment).
    var previousCRC: UInt32

    static let crcOffset = 124

    /// Encodes the header into `buffer[0..<128]` and returns its checksum,
    /// which the first fragment of the segment chains to.
    @discardableResult
    func encode(into buffer: UnsafeMutableRawBufferPointer) -> UInt32 {
        precondition(buffer.count >= JournalFormat.segmentHeaderBytes)
        let header = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<JournalFormat.segmentHeaderBytes])
        header.initializeMemory(as: UInt8.self, repeating: 0)
        for (i, b) in JournalFormat.segmentMagic.enumerated() { header[i] = b }
        header.storeLE32(JournalFormat.version, at: 8)
        header.storeLE32(0, at: 12)
        header.storeLE64(journalID, at: 16)
        header.storeLE64(segmentIndex, at: 24)
        header.storeLE64(baseLSN, at: 32)
        header.storeLE64(salt, at: 40)
        header.storeLE32(epoch, at: 48)
        header.storeLE32(UInt32(blockBytes), at: 52)
        header.storeLE32(UInt32(pageBytes), at: 56)
        header.storeLE32(0, at: 60)
        header.storeLE64(UInt64(windowBytes), at: 64)
        header.storeLE32(previousCRC, at: 72)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(header).slice(0, Self.crcOffset))
        header.storeLE32(crc, at: Self.crcOffset)
        return crc
    }

    /// Decodes and validates a header; returns it with its checksum.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(HeaderProblem) -> (SegmentHeader, crc: UInt32) {
        guard bytes.count >= JournalFormat.segmentHeaderBytes else { throw .badMagic }
        guard bytes.slice(0, 8).elementsEqual(JournalFormat.segmentMagic) else { throw .badMagic }
        let crc = bytes.le32(crcOffset)
        guard CRC32C.checksum(bytes.slice(0, crcOffset)) == crc else { throw .badChecksum }
        let version = bytes.le32(8)
        guard version <= JournalFormat.version else { throw .newerVersion(version) }
        guard version >= 1 else { throw .invalidField("version 0") }
        guard bytes.le32(12) == 0 else { throw .invalidField("flags not zero") }
        guard bytes.le32(60) == 0, bytes.slice(76, crcOffset - 76).isAllZero() else { throw .invalidField("reserved bytes not zero") }
        let header = SegmentHeader(
            journalID: bytes.le64(16),
            segmentIndex: bytes.le64(24),
            baseLSN: bytes.le64(32),
            salt: bytes.le64(40),
            epoch: bytes.le32(48),
            blockBytes: Int(bytes.le32(52)),
            pageBytes: Int(bytes.le32(56)),
            windowBytes: Int(truncatingIfNeeded: bytes.le64(64)),
            previousCRC: bytes.le32(72))
        guard header.baseLSN >= 1, header.baseLSN <= JournalFormat.lsnMax else { throw .invalidField("base LSN out of range") }
        return (header, crc)
    }

    /// The checksum seed of every fragment in the segment: CRC32C of the salt.
    var fragmentSeed: UInt32 { FragmentHeader.seed(salt: salt) }
}

// MARK: - Fragment header

/// The 40-byte header of every fragment (journal-format.md, "Fragments").
struct FragmentHeader: Equatable, Sendable {
    var headerCRC: UInt32
    var payloadCRC: UInt32
    var previousCRC: UInt32
    var length: Int
    var lsn: LSN
    /// The durable LSN the writer knew when it wrote the fragment: proof,
    /// found past a damaged record, that the damaged record was acknowledged.
    var committedLSN: LSN
    var type: FragmentType
    var epoch: UInt32

    static let typeOffset = 32

    static func seed(salt: UInt64) -> UInt32 {
        withUnsafeBytes(of: salt.littleEndian) { CRC32C.checksum($0) }
    }

    /// Writes the header at `buffer[offset..<offset+40]` and returns its
    /// checksum: CRC32C of the segment salt followed by header bytes 4..<40.
    static func encode(
        into buffer: UnsafeMutableRawBufferPointer, at offset: Int, seed: UInt32,
        payloadCRC: UInt32, previousCRC: UInt32, length: Int, lsn: LSN, committedLSN: LSN,
        type: FragmentType, epoch: UInt32
    ) -> UInt32 {
        encodeUnchained(into: buffer, at: offset, payloadCRC: payloadCRC, length: length, lsn: lsn,
                        committedLSN: committedLSN, type: type, epoch: epoch)
        return chain(buffer, at: offset, seed: seed, previousCRC: previousCRC)
    }

    /// Writes every field of the header at `buffer[offset..<offset+40]` but
    /// the two that chain it to the fragment before (`previousCRC` and the
    /// header checksum, left zero); `chain` completes it. The writer fills
    /// fragments in any order and chains them in log order.
    static func encodeUnchained(
        into buffer: UnsafeMutableRawBufferPointer, at offset: Int,
        payloadCRC: UInt32, length: Int, lsn: LSN, committedLSN: LSN, type: FragmentType, epoch: UInt32
    ) {
        precondition(length >= 0 && length <= Int(UInt32.max))
        assert(committedLSN < lsn, "a fragment's record is not durable when it is written")
        let size = JournalFormat.fragmentHeaderBytes
        let h = UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + size)])
        h.storeLE32(0, at: 0)
        h.storeLE32(payloadCRC, at: 4)
        h.storeLE32(0, at: 8)
        h.storeLE32(UInt32(length), at: 12)
        h.storeLE64(lsn, at: 16)
        h.storeLE64(committedLSN, at: 24)
        h[32] = type.rawValue
        h[33] = 0
        h.storeLE16(0, at: 34)
        h.storeLE32(epoch, at: 36)
    }

    /// Completes a header written by `encodeUnchained`: stores `previousCRC`
    /// and the header checksum (CRC32C of the segment salt followed by
    /// header bytes 4..<40), and returns the checksum.
    @discardableResult
    static func chain(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int, seed: UInt32, previousCRC: UInt32) -> UInt32 {
        let size = JournalFormat.fragmentHeaderBytes
        let h = UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + size)])
        assert(FragmentType(rawValue: h[32]) != nil, "chains a header written by encodeUnchained")
        h.storeLE32(previousCRC, at: 8)
        let crc = CRC32C.update(seed, UnsafeRawBufferPointer(h).slice(4, size - 4))
        h.storeLE32(crc, at: 0)
        return crc
    }

    /// Decodes the header at `bytes[offset...]` if its checksum is valid under
    /// `seed` and its fields are well formed; nil otherwise. Does not check
    /// the payload.
    @inline(__always)
    static func decode(_ bytes: UnsafeRawBufferPointer, at offset: Int, seed: UInt32) -> FragmentHeader? {
        let size = JournalFormat.fragmentHeaderBytes
        guard offset >= 0, offset + size <= bytes.count else { return nil }
        // Cheap rejections first: the type byte and the reserved bytes.
        guard let type = FragmentType(rawValue: bytes[offset + 32]), bytes[offset + 33] == 0,
              bytes.le16(offset + 34) == 0 else { return nil }
        let crc = bytes.le32(offset)
        guard CRC32C.update(seed, bytes.slice(offset + 4, size - 4)) == crc else { return nil }
        let lsn = bytes.le64(offset + 16)
        let committed = bytes.le64(offset + 24)
        guard committed < lsn, lsn <= JournalFormat.lsnMax else { return nil }
        return FragmentHeader(
            headerCRC: crc, payloadCRC: bytes.le32(offset + 4), previousCRC: bytes.le32(offset + 8),
            length: Int(bytes.le32(offset + 12)), lsn: lsn, committedLSN: committed, type: type,
            epoch: bytes.le32(offset + 36))
    }
}

// MARK: - Fragment placement

/// Where the fragments of a record go (journal-format.md, "Pages and
/// fragments"). Pages are `pageBytes` long and start at segment offsets that
/// are multiples of `pageBytes`; no fragment crosses a page end. The writer
/// and every reader share this code, so they cannot disagree.
struct FragmentLayout: Sendable {
    let pageBytes: Int

    /// Where a fragment may start at or after `offset`: the offset rounded up
    /// to the fragment alignment, or the next page when no more than a
    /// header's worth of room is left in this page.
    @inline(__always)
    func fragmentStart(atOrAfter offset: Int) -> Int {
        let p = roundUp(offset, JournalFormat.fragmentAlignment)
        let pageEnd = roundDown(p, pageBytes) + pageBytes
        return pageEnd - p <= JournalFormat.fragmentHeaderBytes ? pageEnd : p
    }

    /// Payload bytes a fragment starting at `start` (a valid fragment start)
    /// can carry.
    @inline(__always)
    func room(at start: Int) -> Int {
        let pageEnd = roundDown(start, pageBytes) + pageBytes
        assert(pageEnd - start > JournalFormat.fragmentHeaderBytes, "start is a valid fragment start")
        return pageEnd - start - JournalFormat.fragmentHeaderBytes
    }

    /// The offset just past the record (unaligned) when a record of
    /// `payloadBytes` starts at or after `offset`.
    func encodedEnd(payloadBytes: Int, at offset: Int) -> Int {
        var p = fragmentStart(atOrAfter: offset)
        var remaining = payloadBytes
        while true {
            let take = min(remaining, room(at: p))
            remaining -= take
            let end = p + JournalFormat.fragmentHeaderBytes + take
            if remaining == 0 { return end }
            p = fragmentStart(atOrAfter: end)
        }
    }
}
