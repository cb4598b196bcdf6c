import JournalPrimitives

/// Several commands carried by one raft command entry, applied in order as
/// separate operations (raft-log-format.md, section 6.1): kind u8 = 3,
/// command count u16 (at least 1), then per command its length u32 and its
/// bytes. A command payload starts with its kind byte; kind 3 is reserved
/// for batches by every state machine that batches (the key-value store's
/// commands, the cluster tests' registers), and a batch never holds one.
public enum RaftCommandBatch {
    public static let kind: UInt8 = 3
    /// Most commands one batch entry carries.
    public static let commandsMax = 256
    /// Most bytes of one batch's payload, its header and lengths included
    /// (well below a raft record's limit of a quarter segment).
    public static let bytesMax = 256 << 10
    /// The kind and count before the first command.
    public static let headerBytes = 3
    /// The length before each command.
    public static let lengthBytes = 4

    /// Why a batch payload does not decode.
    public struct Malformed: Error, Sendable, Equatable, CustomStringConvertible {
        public let detail: String
        public var description: String { "malformed command batch: \(detail)" }
    }

    /// The batch of `commands` (1 to `commandsMax`, none empty or a batch).
    public static func encode(_ commands: [[UInt8]]) -> [UInt8] {
        precondition((1...commandsMax).contains(commands.count), "a batch of \(commands.count) commands")
        var out: [UInt8] = [kind, UInt8(truncatingIfNeeded: commands.count), UInt8(truncatingIfNeeded: commands.count >> 8)]
        out.reserveCapacity(encodedBytes(commandBytes: commands.reduce(0) { $0 + $1.count }, count: commands.count))
        for command in commands {
            precondition(command.first.map { $0 != kind } ?? false, "an empty or nested command in a batch")
            for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: command.count >> shift)) }
            out += command
        }
        return out
    }

    /// The payload bytes of a batch of `count` commands of `commandBytes` in all.
    public static func encodedBytes(commandBytes: Int, count: Int) -> Int { headerBytes + count * lengthBytes + commandBytes }

    /// The commands an entry's payload carries, as slices of `payload`: the
    /// batch's commands in order, or the payload itself when it is not a
    /// batch (its first byte is not `kind`).
    public static func commands(in payload: UnsafeRawBufferPointer) throws(Malformed) -> [UnsafeRawBufferPointer] {
        guard payload.count >= 1, payload.u8(0) == kind else { return [payload] }
        guard payload.count >= headerBytes else { throw Malformed(detail: "\(payload.count) bytes, shorter than its header") }
        let count = Int(payload.le16(1))
        guard count >= 1 else { throw Malformed(detail: "no commands") }
        var commands: [UnsafeRawBufferPointer] = []
        commands.reserveCapacity(count)
        var offset = headerBytes
        for i in 0..<count {
            guard offset + lengthBytes <= payload.count else { throw Malformed(detail: "command \(i) of \(count) past the end") }
            let length = Int(payload.le32(offset))
            offset += lengthBytes
            guard length >= 1, length <= payload.count - offset else {
                throw Malformed(detail: "command \(i) of \(count): \(length) bytes, \(payload.count - offset) left")
            }
            let command = UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + length)])
            guard command.u8(0) != kind else { throw Malformed(detail: "command \(i) of \(count) is itself a batch") }
            commands.append(command)
            offset += length
        }
        guard offset == payload.count else { throw Malformed(detail: "\(payload.count - offset) bytes after the last command") }
        return commands
    }
}
