import JournalPrimitives
import JournalStorage

// Position files (journal-format.md, section 12): one small checksummed
// file per named reader position, `position-<name>.pos`, replaced whole
// (written under `.pos.new`, made durable, renamed over the old one), so a
// crash leaves the old position or the new one, never a mix. One file per
// position means one writer per file: the handle that advances the
// position, which holds an open-file-description lock on
// `position-<name>.lock` (one consumer per position; the kernel drops it
// when the process dies). Truncation and listing take no lock.

/// The on-disk form of one named reader position.
enum PositionFile {
    static let prefix = "position-"
    static let suffix = ".pos"
    static let newSuffix = ".pos.new"
    static let magic: UInt64 = 0x534F_504C_4E4A_5753  // "SWJNLPOS" little-endian
    static let version: UInt32 = 1
    static let nameBytesMax = 64
    /// Bytes covered by the checksum (which follows them).
    static let checkedBytes = 96
    static let encodedBytes = checkedBytes + 4

    static let lockSuffix = ".lock"

    static func fileName(_ name: String) -> String { prefix + name + suffix }

    /// The file whose lock is the position's claim by its one consumer.
    static func lockFileName(_ name: String) -> String { prefix + name + lockSuffix }

    /// The position name a file name carries, if it is a position file.
    static func positionName(fileName: String) -> String? {
        guard fileName.hasPrefix(prefix), fileName.hasSuffix(suffix) else { return nil }
        let name = String(fileName.dropFirst(prefix.count).dropLast(suffix.count))
        return isValidName(name) ? name : nil
    }

    /// 1 to 64 bytes of ASCII letters, digits, `_`, `-` and `.`, not
    /// starting with `.`: safe in a file name and in a command line.
    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= nameBytesMax, bytes[0] != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
        }
    }

    static func validate(_ name: String) throws(JournalError) {
        guard isValidName(name) else {
            throw .invalidArgument("reader position name '\(name)' must be 1 to 64 letters, digits, '_', '-' or '.', not starting with '.'")
        }
    }

    /// Encodes `lsn` for `name` into `buffer` (at least `encodedBytes`).
    static func encode(name: String, lsn: LSN, into buffer: UnsafeMutableRawBufferPointer) {
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        buffer.storeLE64(magic, at: 0)
        buffer.storeLE32(version, at: 8)
        let utf8 = Array(name.utf8)
        buffer.storeLE32(UInt32(utf8.count), at: 12)
        buffer.storeLE64(lsn, at: 16)
        for (i, b) in utf8.enumerated() { buffer[32 + i] = b }
        buffer.storeLE32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[0..<checkedBytes])), at: checkedBytes)
    }

    /// The LSN a position file holds for `name`.
    ///
    /// - Throws: `JournalError.corruption` naming the file when it is too
    ///   short, has another magic, fails its checksum or names another
    ///   position; `.newerFormat` for a later version.
    static func decode(_ bytes: UnsafeRawBufferPointer, fileName: String, name: String) throws(JournalError) -> LSN {
        func damaged(_ detail: String) -> JournalError { .corruption(segment: fileName, offset: 0, detail: detail) }
        guard bytes.count >= encodedBytes else { throw damaged("position file of \(bytes.count) bytes, \(encodedBytes) expected") }
        guard bytes.le64(0) == magic else { throw damaged("bad position file magic") }
        guard bytes.le32(checkedBytes) == CRC32C.checksum(bytes.slice(0, checkedBytes)) else {
            throw damaged("position file checksum mismatch")
        }
        let version = bytes.le32(8)
        guard version <= Self.version else { throw .newerFormat(path: fileName, found: version, supported: Self.version) }
        let count = Int(bytes.le32(12))
        guard count <= nameBytesMax, Array(bytes.slice(32, count)) == Array(name.utf8) else {
            throw damaged("position file names another position")
        }
        return bytes.le64(16)
    }

    /// Reads the position `name`; nil if it has no file.
    static func read(_ storage: any StorageDirectory, name: String) throws(JournalError) -> LSN? {
        let fileName = fileName(name)
        let file: any StorageFile
        do {
            file = try storage.openReadOnly(fileName)
        } catch {
            if error.errno == .noSuchFileOrDirectory { return nil }
            throw JournalError.from(error)
        }
        defer { file.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: encodedBytes, alignment: 8)
        defer { buffer.deallocate() }
        let count: Int
        do { count = try file.read(into: buffer, at: 0) } catch { throw JournalError.from(error) }
        return try decode(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), fileName: fileName, name: name)
    }

    /// Replaces the position `name` with `lsn`, durably: when this returns
    /// the new file is in place and survives a crash; before, a crash
    /// leaves the old file (or none, for a new position).
    static func write(_ storage: any StorageDirectory, name: String, lsn: LSN) throws(JournalError) {
        let temporary = prefix + name + newSuffix
        let alignment = storage.ioAlignment
        let fileBytes = roundUp(encodedBytes, alignment)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: fileBytes, alignment: alignment)
        defer { buffer.deallocate() }
        encode(name: name, lsn: lsn, into: buffer)
        do {
            // A crash in an earlier write may have left the temporary file.
            do { try storage.remove(temporary) } catch where error.errno == .noSuchFileOrDirectory {}
            let file = try storage.createZeroFilled(temporary, bytes: fileBytes)
            defer { file.close() }
            try file.writeDurably(UnsafeRawBufferPointer(buffer), at: 0)
            try storage.rename(temporary, to: fileName(name))
        } catch {
            throw JournalError.from(error)
        }
    }

    /// The names of the positions in the directory, sorted.
    static func names(_ storage: any StorageDirectory) throws(JournalError) -> [String] {
        do { return try storage.fileNames().compactMap(positionName(fileName:)).sorted() } catch { throw JournalError.from(error) }
    }

    /// Reads every position file: an open refuses a journal with a damaged
    /// one (`.corruption` naming it) rather than forget a position.
    static func checkAll(_ storage: any StorageDirectory) throws(JournalError) {
        for name in try names(storage) { _ = try read(storage, name: name) }
    }
}
