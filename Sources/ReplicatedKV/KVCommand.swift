import JournalPrimitives

/// A write of the replicated store, as a raft command entry's payload:
/// kind u8 (1 put, 2 delete), key length u16, key, then the value (put
/// only) to the end. Specified in raft-log-format.md, section 6.
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

    /// The command in `bytes`, or nil when they are not one.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> KVCommand? {
        guard bytes.count >= 3 else { return nil }
        let keyBytes = Int(bytes.le16(1))
        guard 3 + keyBytes <= bytes.count else { return nil }
        let key = Array(bytes[3..<(3 + keyBytes)])
        switch bytes.u8(0) {
        case 1: return .put(key: key, value: Array(bytes[(3 + keyBytes)...]))
        case 2 where bytes.count == 3 + keyBytes: return .delete(key: key)
        default: return nil
        }
    }

    static func le16(_ n: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: n), UInt8(truncatingIfNeeded: n >> 8)] }
}
