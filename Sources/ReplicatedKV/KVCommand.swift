import JournalPrimitives
import JournalRaft

/// A write of the replicated store, as a raft command entry's payload:
/// kind u8 (1 put, 2 delete), key length u16, key, then the value (put
/// only) to the end. An entry may instead carry a batch of these (kind 3,
/// `RaftCommandBatch`). Specified in raft-log-format.md, section 6.1.
public enum KVCommand: Sendable, Equatable {
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])

    /// The command's bytes.
    public var encoded: [UInt8] {
        switch self {
        case .put(let key, let value): [1] + Self.le16(key.count) + key + value
        case .delete(let key): [2] + Self.le16(key.count) + key
        }
    }

    /// The command in `bytes`. Throws for a kind this version does not know
    /// (written by a newer one) and for bytes that are not a command.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(KVCommandError) -> KVCommand {
        guard bytes.count >= 1 else { throw .malformed("an empty command") }
        let kind = bytes.u8(0)
        guard kind == 1 || kind == 2 else { throw .unknownKind(kind) }
        guard bytes.count >= 3 else { throw .malformed("a command of \(bytes.count) bytes") }
        let keyBytes = Int(bytes.le16(1))
        guard 3 + keyBytes <= bytes.count else { throw .malformed("a key of \(keyBytes) bytes past the end") }
        let key = Array(bytes[3..<(3 + keyBytes)])
        if kind == 1 { return .put(key: key, value: Array(bytes[(3 + keyBytes)...])) }
        guard bytes.count == 3 + keyBytes else { throw .malformed("a delete with \(bytes.count - 3 - keyBytes) trailing bytes") }
        return .delete(key: key)
    }

    /// The commands a raft entry's payload carries, in order: one, or a
    /// batch's. Throws as `decode`, for the whole entry.
    public static func commands(in payload: UnsafeRawBufferPointer) throws(KVCommandError) -> [KVCommand] {
        let slices: [UnsafeRawBufferPointer]
        do { slices = try RaftCommandBatch.commands(in: payload) } catch { throw .malformed(error.detail) }
        var commands: [KVCommand] = []
        commands.reserveCapacity(slices.count)
        for slice in slices { commands.append(try decode(slice)) }
        return commands
    }

    static func le16(_ n: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: n), UInt8(truncatingIfNeeded: n >> 8)] }
}

/// Why a raft entry's payload is not a command this node can apply. Either
/// stops the node: skipping the entry would let its replica diverge from
/// those that apply it.
public enum KVCommandError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A command kind this version does not know (a newer version wrote it).
    case unknownKind(UInt8)
    /// Bytes that are no command (a key past the end, a broken batch).
    case malformed(String)

    public var description: String {
        switch self {
        case .unknownKind(let k): "a command of kind \(k), which this version does not know (written by a newer version?)"
        case .malformed(let d): "a malformed command: \(d)"
        }
    }
}
