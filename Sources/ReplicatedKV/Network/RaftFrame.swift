import JournalPrimitives
import NIOCore

// The frames of the raft transport (raft-log-format.md, section 5): each
// message is length u32, CRC32C of the payload u32, then the payload. The
// first frame a connection carries is the hello (the sender's cluster and
// id); a receiver closes a connection whose hello names another cluster,
// whose frame is longer than the maximum or whose checksum fails.

enum RaftFrame {
    /// The longest payload accepted (an installed snapshot is one message).
    static let payloadBytesMax = 256 << 20
    static let helloMagic: UInt64 = 0x4F4C_4C45_4856_4B52  // "RKVHELLO"

    /// Writes `payload` as one frame into `buffer`.
    static func write(_ payload: [UInt8], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(payload.count), endianness: .little)
        buffer.writeInteger(CRC32C.checksum(payload), endianness: .little)
        buffer.writeBytes(payload)
    }

    /// The hello's payload: magic u64, cluster id u64, sender id u64.
    static func hello(clusterID: UInt64, senderID: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        for v in [helloMagic, clusterID, senderID] {
            for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
        }
        return out
    }

    /// The sender id of a hello from cluster `clusterID`, or nil.
    static func helloSender(_ payload: [UInt8], clusterID: UInt64) -> UInt64? {
        guard payload.count == 24 else { return nil }
        return payload.withUnsafeBytes { b in
            b.le64(0) == helloMagic && b.le64(8) == clusterID ? b.le64(16) : nil
        }
    }
}

/// A frame that fails its checks: the connection is closed.
struct RaftFrameError: Error, CustomStringConvertible {
    var description: String
}

/// Splits the byte stream into frame payloads.
struct RaftFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let start = buffer.readerIndex
        guard let length = buffer.getInteger(at: start, endianness: .little, as: UInt32.self),
              let checksum = buffer.getInteger(at: start + 4, endianness: .little, as: UInt32.self) else {
            return .needMoreData
        }
        guard length <= RaftFrame.payloadBytesMax else { throw RaftFrameError(description: "a frame of \(length) bytes") }
        guard buffer.readableBytes >= 8 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 8)
        guard let payload = buffer.readBytes(length: Int(length)) else { return .needMoreData }
        guard CRC32C.checksum(payload) == checksum else { throw RaftFrameError(description: "a frame's checksum fails") }
        context.fireChannelRead(wrapInboundOut(payload))
        return .continue
    }
}

/// The receiving end of a peer's connection: checks the hello, then hands
/// each message to the node.
final class RaftInboundHandler: ChannelInboundHandler {
    typealias InboundIn = [UInt8]
    let clusterID: UInt64
    let receive: ([UInt8]) -> Void
    var greeted = false

    init(clusterID: UInt64, receive: @escaping ([UInt8]) -> Void) {
        self.clusterID = clusterID
        self.receive = receive
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        if greeted {
            receive(payload)
        } else if RaftFrame.helloSender(payload, clusterID: clusterID) != nil {
            greeted = true
        } else {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
