import JournalStorage
import JournalPrimitives

// Snapshot files of the raft log store (raft-log-format.md, "Snapshot
// files"): one file per snapshot, written under a temporary name through the
// storage seam, durably, then renamed; only then does the log store append
// the snapshot record that makes it the current one.

/// A member of a raft configuration.
public struct RaftServer: Sendable, Equatable {
    public var id: UInt64
    public var address: String
    /// Raft's role code: `RAFT_STANDBY` 0, `RAFT_VOTER` 1, `RAFT_SPARE` 2.
    public var role: Int32

    public init(id: UInt64, address: String, role: Int32) {
        self.id = id
        self.address = address
        self.role = role
    }
}

/// A raft snapshot: the state machine through `index`, and the last
/// committed configuration with the index it was committed at.
public struct RaftSnapshot: Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
    public var configuration: [RaftServer]
    public var configurationIndex: UInt64
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, configuration: [RaftServer], configurationIndex: UInt64, data: [UInt8]) {
        self.index = index
        self.term = term
        self.configuration = configuration
        self.configurationIndex = configurationIndex
        self.data = data
    }
}

/// Encodes, writes and reads snapshot files.
enum RaftSnapshotFile {
    static let magic: UInt64 = 0x5041_4E53_5446_4152 // "RAFTSNAP"
    static let version: UInt32 = 1
    static let headerBytes = 64

    /// The file name of the snapshot through `index` of term `term`.
    static func name(index: UInt64, term: UInt64) -> String {
        "raft-snapshot-\(hex(index))-\(hex(term))"
    }

    /// True for names `name(index:term:)` makes (and their temporaries).
    static func isSnapshotName(_ name: String) -> Bool { name.hasPrefix("raft-snapshot-") }

    private static func hex(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Writes `snapshot` durably under its name: a temporary file, zero
    /// filled, written, then renamed over the name.
    static func write(_ snapshot: RaftSnapshot, to storage: any StorageDirectory) throws(RaftLogError) {
        try withBytes(snapshot.data) { (data) throws(RaftLogError) in try write(snapshot, data: [data], to: storage) }
    }

    /// Writes the snapshot of `snapshot`'s index, term and configuration
    /// whose data is `parts` back to back (`snapshot.data` is ignored): the
    /// bytes are copied once, into the file's write buffer, so a snapshot
    /// held in raft's buffers is not copied again first.
    static func write(_ snapshot: RaftSnapshot, data parts: [UnsafeRawBufferPointer], to storage: any StorageDirectory) throws(RaftLogError) {
        let dataBytes = parts.reduce(0) { $0 + $1.count }
        let head = encodeBodyHead(snapshot, dataBytes: dataBytes)
        let bodyBytes = head.count + dataBytes
        let alignment = storage.ioAlignment
        let size = roundUp(headerBytes + bodyBytes, alignment)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: max(alignment, 4096))
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        buffer.storeLE64(magic, at: 0)
        buffer.storeLE32(version, at: 8)
        buffer.storeLE64(snapshot.index, at: 16)
        buffer.storeLE64(snapshot.term, at: 24)
        buffer.storeLE64(UInt64(bodyBytes), at: 32)
        var offset = headerBytes
        head.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + head.count)]).copyMemory(from: $0) }
        offset += head.count
        for part in parts where part.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + part.count)]).copyMemory(from: part)
            offset += part.count
        }
        buffer.storeLE32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[headerBytes..<(headerBytes + bodyBytes)])), at: 40)
        buffer.storeLE32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[0..<60])), at: 60)
        let final = name(index: snapshot.index, term: snapshot.term)
        let temporary = final + ".new"
        do {
            let names = try storage.fileNames()
            if names.contains(temporary) { try storage.remove(temporary) }
            let file = try storage.createZeroFilled(temporary, bytes: size)
            defer { file.close() }
            try file.writeDurably(UnsafeRawBufferPointer(buffer), at: 0)
            try storage.rename(temporary, to: final)
        } catch {
            throw .from(error)
        }
    }

    /// Reads and validates the snapshot through `index` of term `term`.
    static func read(index: UInt64, term: UInt64, from storage: any StorageDirectory) throws(RaftLogError) -> RaftSnapshot {
        let name = name(index: index, term: term)
        var bytes: [UInt8]
        do {
            guard try storage.fileNames().contains(name) else { throw RaftLogError.damagedSnapshot("\(name) is absent") }
            let file = try storage.openReadOnly(name)
            defer { file.close() }
            bytes = [UInt8](repeating: 0, count: file.size)
            let count = try withMutableBytes(&bytes) { (b) throws(StorageError) -> Int in try file.read(into: b, at: 0) }
            bytes.removeLast(bytes.count - count)
        } catch let error as RaftLogError {
            throw error
        } catch let error as StorageError {
            throw .storage(error)
        } catch {
            throw .damagedSnapshot("\(name): \(error)")
        }
        return try withBytes(bytes) { (b) throws(RaftLogError) -> RaftSnapshot in try decode(b, name: name, index: index, term: term) }
    }

    private static func decode(_ b: UnsafeRawBufferPointer, name: String, index: UInt64, term: UInt64) throws(RaftLogError) -> RaftSnapshot {
        guard b.count >= headerBytes, b.le64(0) == magic else { throw .damagedSnapshot("\(name) has no snapshot header") }
        guard CRC32C.checksum(b.slice(0, 60)) == b.le32(60) else { throw .damagedSnapshot("\(name): header checksum mismatch") }
        guard b.le32(8) == version else { throw .damagedSnapshot("\(name): version \(b.le32(8)), not \(version)") }
        guard b.le64(16) == index, b.le64(24) == term else { throw .damagedSnapshot("\(name) holds another snapshot") }
        let bodyBytes = Int(clamping: b.le64(32))
        guard bodyBytes <= b.count - headerBytes else { throw .damagedSnapshot("\(name) is shorter than its body") }
        let body = b.slice(headerBytes, bodyBytes)
        guard CRC32C.checksum(body) == b.le32(40) else { throw .damagedSnapshot("\(name): body checksum mismatch") }
        guard let snapshot = decodeBody(body, index: index, term: term) else {
            throw .damagedSnapshot("\(name): the body does not decode")
        }
        return snapshot
    }

    /// Body: configuration index, server count, each server (id, role,
    /// address length and bytes), then the data length and bytes.
    /// This encodes the body up to the data's bytes.
    static func encodeBodyHead(_ s: RaftSnapshot, dataBytes: Int) -> [UInt8] {
        var out: [UInt8] = []
        appendLE(&out, s.configurationIndex, bytes: 8)
        appendLE(&out, UInt64(s.configuration.count), bytes: 4)
        for server in s.configuration {
            let address = Array(server.address.utf8)
            appendLE(&out, server.id, bytes: 8)
            appendLE(&out, UInt64(UInt32(bitPattern: server.role)), bytes: 4)
            appendLE(&out, UInt64(address.count), bytes: 4)
            out.append(contentsOf: address)
        }
        appendLE(&out, UInt64(dataBytes), bytes: 8)
        return out
    }

    static func decodeBody(_ b: UnsafeRawBufferPointer, index: UInt64, term: UInt64) -> RaftSnapshot? {
        var cursor = ByteCursor(bytes: b)
        guard let configurationIndex = cursor.le64(), let count = cursor.le32() else { return nil }
        var servers: [RaftServer] = []
        for _ in 0..<count {
            guard let id = cursor.le64(), let role = cursor.le32(), let length = cursor.le32(),
                  let address = cursor.bytes(Int(length)) else { return nil }
            servers.append(RaftServer(id: id, address: String(decoding: address, as: UTF8.self), role: Int32(bitPattern: role)))
        }
        guard let dataBytes = cursor.le64(), let data = cursor.bytes(Int(clamping: dataBytes)), cursor.isAtEnd else { return nil }
        return RaftSnapshot(index: index, term: term, configuration: servers, configurationIndex: configurationIndex, data: Array(data))
    }
}

/// Appends the low `bytes` bytes of `value`, little-endian.
func appendLE(_ out: inout [UInt8], _ value: UInt64, bytes: Int) {
    for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
}

/// Reads little-endian integers and byte runs from a buffer, returning nil
/// instead of reading past its end: the decoder of bytes from disk or the
/// network.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }

    mutating func le64() -> UInt64? { integer() }
    mutating func le32() -> UInt32? { integer() }
    mutating func le16() -> UInt16? { integer() }
    mutating func u8() -> UInt8? { integer() }

    /// The next little-endian integer of `T`'s width, or nil past the end.
    private mutating func integer<T: FixedWidthInteger>() -> T? {
        let width = MemoryLayout<T>.size
        guard bytes.count - offset >= width else { return nil }
        defer { offset += width }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return bytes.slice(offset, count)
    }
}
