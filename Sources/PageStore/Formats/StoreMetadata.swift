import Journal
import JournalPrimitives
import JournalStorage

// `store.meta`: the store's fixed parameters, one block, written once at
// creation (under a temporary name, then renamed: absent or whole).
//
//   offset  size  field
//   0       8     magic "PSTOREMT"
//   8       4     version (1)
//   12      4     page bytes
//   16      8     page count max
//   24      8     store id (random)
//   32      4     CRC32C of bytes [0, 32)

struct StoreMetadata: Equatable {
    static let fileName = "store.meta"
    static let temporaryName = "store.meta.new"
    static let magic = magic64("PSTOREMT")
    static let version: UInt32 = 1

    var pageBytes: Int
    var pageCountMax: UInt64
    var storeID: UInt64

    static func blockBytes(_ storage: any StorageDirectory) -> Int { roundUp(4096, storage.ioAlignment) }

    func write(to storage: any StorageDirectory) throws(PageStoreError) {
        let size = Self.blockBytes(storage)
        let buffer = AlignedBuffer(count: size, alignment: storage.ioAlignment)
        let b = buffer.bytes
        b.storeLE64(Self.magic, at: 0)
        b.storeLE32(Self.version, at: 8)
        b.storeLE32(UInt32(pageBytes), at: 12)
        b.storeLE64(pageCountMax, at: 16)
        b.storeLE64(storeID, at: 24)
        b.storeLE32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<32])), at: 32)
        do {
            if try storage.fileNames().contains(Self.temporaryName) { try storage.remove(Self.temporaryName) }
            let file = try storage.createZeroFilled(Self.temporaryName, bytes: size)
            defer { file.close() }
            try file.writeDurably(UnsafeRawBufferPointer(b), at: 0)
            try storage.rename(Self.temporaryName, to: Self.fileName)
        } catch {
            throw PageStoreError.from(error)
        }
    }

    static func read(from storage: any StorageDirectory) throws(PageStoreError) -> StoreMetadata {
        let file: any StorageFile
        do {
            file = try storage.openReadOnly(fileName)
        } catch {
            if error.errno == .noSuchFileOrDirectory { throw .notAStore(path: storage.path, reason: "no \(fileName)") }
            throw PageStoreError.from(error)
        }
        defer { file.close() }
        let buffer = AlignedBuffer(count: blockBytes(storage), alignment: storage.ioAlignment)
        let count: Int
        do { count = try file.read(into: buffer.bytes, at: 0) } catch { throw PageStoreError.from(error) }
        let b = UnsafeRawBufferPointer(buffer.bytes)
        guard count >= 36, b.le64(0) == magic else {
            throw .notAStore(path: storage.path, reason: "\(fileName) has no store magic")
        }
        let version = b.le32(8)
        guard version <= Self.version else { throw .newerFormat(file: fileName, found: version, supported: Self.version) }
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<32])) == b.le32(32) else {
            throw .corruption(file: fileName, detail: "checksum mismatch")
        }
        return StoreMetadata(
            pageBytes: Int(b.le32(12)), pageCountMax: b.le64(16),
            storeID: b.le64(24))
    }
}
