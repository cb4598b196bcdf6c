import Journal
import JournalPrimitives
import JournalStorage
import PagedFile

// A snapshot: the data file's pages at one LSN, in one of two slot files,
// `snapshot-0.pss` and `snapshot-1.pss`. Normative description in
// Docs/page-store.md, "Snapshots".
//
//   header block (H = 4096 rounded up to the I/O alignment)
//     0   8  magic "PSSNAPSH"
//     8   4  version (1)
//     12  4  page bytes
//     16  8  page count n
//     24  8  LSN: the snapshot holds every commit at or below it, none above
//     32  8  store id (must match store.meta)
//     40  8  sequence: 1 for the first checkpoint, +1 for each after
//     48  8  last transaction id at or below the LSN
//     56  4  CRC32C of the checksum table
//     60  4  CRC32C of bytes [0, 60)
//   checksum table at H: n x 4 bytes, CRC32C of each page, padded to the
//     I/O alignment (T bytes)
//   pages at H + T: n x page bytes
//
// A checkpoint recreates the slot that does not hold the snapshot in use,
// writes the table and the pages durably, and writes the header block last:
// a slot with a valid header is complete. Recovery prefers the valid slot
// with the highest sequence.

struct SnapshotHeader: Equatable, Sendable {
    static let magic = magic64("PSSNAPSH")
    static let version: UInt32 = 1
    static let slotNames = ["snapshot-0.pss", "snapshot-1.pss"]

    var pageBytes: Int
    var pageCount: Int
    var lsn: LSN
    var storeID: UInt64
    var sequence: UInt64
    var lastTxID: UInt64
    var tableCRC: UInt32

    static func headerBytes(alignment: Int) -> Int { roundUp(4096, alignment) }
    static func tableBytes(pageCount: Int, alignment: Int) -> Int { roundUp(pageCount * 4, alignment) }

    func fileBytes(alignment: Int) -> Int {
        Self.headerBytes(alignment: alignment) + Self.tableBytes(pageCount: pageCount, alignment: alignment) + pageCount * pageBytes
    }

    func encode(into b: UnsafeMutableRawBufferPointer) {
        b.storeLE64(Self.magic, at: 0)
        b.storeLE32(Self.version, at: 8)
        b.storeLE32(UInt32(pageBytes), at: 12)
        b.storeLE64(UInt64(pageCount), at: 16)
        b.storeLE64(lsn, at: 24)
        b.storeLE64(storeID, at: 32)
        b.storeLE64(sequence, at: 40)
        b.storeLE64(lastTxID, at: 48)
        b.storeLE32(tableCRC, at: 56)
        b.storeLE32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<60])), at: 60)
    }

    enum Outcome {
        case valid(SnapshotHeader)
        /// Absent, torn, or damaged: not a usable snapshot.
        case invalid(String)
        case newerVersion(UInt32)
    }

    static func decode(_ b: UnsafeRawBufferPointer) -> Outcome {
        guard b.count >= 64, b.le64(0) == magic else { return .invalid("no snapshot magic") }
        let version = b.le32(8)
        guard version <= Self.version else { return .newerVersion(version) }
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<60])) == b.le32(60) else {
            return .invalid("header checksum mismatch")
        }
        return .valid(SnapshotHeader(
            pageBytes: Int(b.le32(12)), pageCount: Int(b.le64(16)),
            lsn: b.le64(24), storeID: b.le64(32),
            sequence: b.le64(40), lastTxID: b.le64(48),
            tableCRC: b.le32(56)))
    }
}

/// Writes and reads snapshot slots.
struct SnapshotIO {
    let storage: any StorageDirectory
    let pageBytes: Int
    /// Pages per durable write while copying (1 MiB at 4 KiB pages).
    static let chunkPagesMax = 256

    var alignment: Int { storage.ioAlignment }

    /// Reads the header of slot `slot`.
    func readHeader(slot: Int) throws(PageStoreError) -> SnapshotHeader.Outcome {
        let name = SnapshotHeader.slotNames[slot]
        do {
            guard try storage.fileNames().contains(name) else { return .invalid("absent") }
            let file = try storage.openReadOnly(name)
            defer { file.close() }
            let buffer = AlignedBuffer(count: SnapshotHeader.headerBytes(alignment: alignment), alignment: alignment)
            let count = try file.read(into: buffer.bytes, at: 0)
            return SnapshotHeader.decode(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]))
        } catch {
            throw PageStoreError.from(error)
        }
    }

    /// Writes the `pageCount` pages of `dataFile` as a snapshot into slot
    /// `slot`, durably, header last.
    func write(slot: Int, header base: SnapshotHeader, from dataFile: PagedFile) throws(PageStoreError) {
        try write(slot: slot, header: base) { (offset, bytes) throws(PageStoreError) -> Int in
            do throws(PagedFileError) { return try dataFile.read(at: offset, into: bytes) } catch { throw .dataFile(error) }
        }
    }

    /// Writes `pageCount` pages as a snapshot into slot `slot`, durably,
    /// header last; `read(offset, bytes)` fills `bytes` with the page images
    /// from byte `offset` on and returns how many it filled (the rest are
    /// zeros).
    func write(
        slot: Int, header base: SnapshotHeader, reading read: (Int, UnsafeMutableRawBufferPointer) throws(PageStoreError) -> Int
    ) throws(PageStoreError) {
        var header = base
        let name = SnapshotHeader.slotNames[slot]
        let headerBytes = SnapshotHeader.headerBytes(alignment: alignment)
        let tableBytes = SnapshotHeader.tableBytes(pageCount: header.pageCount, alignment: alignment)
        let table = AlignedBuffer(count: max(tableBytes, alignment), alignment: alignment)
        let chunk = AlignedBuffer(count: Self.chunkPagesMax * pageBytes, alignment: alignment)
        try PageStoreError.mapping {
            if try storage.fileNames().contains(name) { try storage.remove(name) }
            let file = try storage.createZeroFilled(name, bytes: header.fileBytes(alignment: alignment))
            defer { file.close() }
            var page = 0
            while page < header.pageCount {
                let n = min(Self.chunkPagesMax, header.pageCount - page)
                let bytes = UnsafeMutableRawBufferPointer(rebasing: chunk.bytes[0..<(n * pageBytes)])
                let filled = try read(page * pageBytes, bytes)
                if filled < bytes.count {
                    UnsafeMutableRawBufferPointer(rebasing: bytes[filled...]).initializeMemory(as: UInt8.self, repeating: 0)
                }
                for i in 0..<n {
                    let image = UnsafeRawBufferPointer(rebasing: bytes[(i * pageBytes)..<((i + 1) * pageBytes)])
                    table.bytes.storeLE32(CRC32C.checksum(image), at: (page + i) * 4)
                }
                try file.writeDurably(UnsafeRawBufferPointer(bytes), at: headerBytes + tableBytes + page * pageBytes)
                page += n
            }
            if tableBytes > 0 {
                try file.writeDurably(UnsafeRawBufferPointer(rebasing: table.bytes[0..<tableBytes]), at: headerBytes)
            }
            header.tableCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: table.bytes[0..<(header.pageCount * 4)]))
            let head = AlignedBuffer(count: headerBytes, alignment: alignment)
            header.encode(into: head.bytes)
            try file.writeDurably(UnsafeRawBufferPointer(head.bytes), at: 0)
        }
    }

    /// Loads the snapshot in slot `slot` into `dataFile`, verifying every
    /// page; all-zero pages stay holes.
    func load(slot: Int, header: SnapshotHeader, into dataFile: PagedFile) throws(PageStoreError) {
        let file: any StorageFile
        do { file = try storage.openReadOnly(SnapshotHeader.slotNames[slot]) } catch { throw PageStoreError.from(error) }
        defer { file.close() }
        try load(file: file, slot: slot, header: header, into: dataFile)
    }

    /// Loads the snapshot `header` describes from `file`, the open slot
    /// `slot`, into `dataFile`, verifying the table and every page.
    func load(file: any StorageFile, slot: Int, header: SnapshotHeader, into dataFile: PagedFile) throws(PageStoreError) {
        let name = SnapshotHeader.slotNames[slot]
        guard header.pageBytes == pageBytes else { throw .corruption(file: name, detail: "page size \(header.pageBytes) differs from the store's \(pageBytes)") }
        let headerBytes = SnapshotHeader.headerBytes(alignment: alignment)
        let tableBytes = SnapshotHeader.tableBytes(pageCount: header.pageCount, alignment: alignment)
        try PageStoreError.mapping {
            guard file.size >= header.fileBytes(alignment: alignment) else {
                throw PageStoreError.corruption(file: name, detail: "file of \(file.size) bytes is shorter than its header says")
            }
            let table = AlignedBuffer(count: max(tableBytes, alignment), alignment: alignment)
            if tableBytes > 0 {
                guard try file.read(into: UnsafeMutableRawBufferPointer(rebasing: table.bytes[0..<tableBytes]), at: headerBytes) == tableBytes else {
                    throw PageStoreError.corruption(file: name, detail: "short checksum table")
                }
            }
            let tableView = UnsafeRawBufferPointer(table.bytes)
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: tableView[0..<(header.pageCount * 4)])) == header.tableCRC else {
                throw PageStoreError.corruption(file: name, detail: "checksum table mismatch")
            }
            let chunk = AlignedBuffer(count: Self.chunkPagesMax * pageBytes, alignment: alignment)
            var page = 0
            while page < header.pageCount {
                let n = min(Self.chunkPagesMax, header.pageCount - page)
                let bytes = UnsafeMutableRawBufferPointer(rebasing: chunk.bytes[0..<(n * pageBytes)])
                guard try file.read(into: bytes, at: headerBytes + tableBytes + page * pageBytes) == bytes.count else {
                    throw PageStoreError.corruption(file: name, detail: "short read at page \(page)")
                }
                for i in 0..<n {
                    let image = UnsafeRawBufferPointer(rebasing: bytes[(i * pageBytes)..<((i + 1) * pageBytes)])
                    guard CRC32C.checksum(image) == tableView.le32((page + i) * 4) else {
                        throw PageStoreError.corruption(file: name, detail: "page \(page + i) fails its checksum")
                    }
                    if image.contains(where: { $0 != 0 }) {
                        do throws(PagedFileError) { try dataFile.write(at: (page + i) * pageBytes, from: image) } catch { throw PageStoreError.dataFile(error) }
                    }
                }
                page += n
            }
            if dataFile.length < header.pageCount * pageBytes {
                do throws(PagedFileError) { try dataFile.setLength(header.pageCount * pageBytes) } catch { throw PageStoreError.dataFile(error) }
            }
        }
    }
}
