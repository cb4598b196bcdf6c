import NIOCore
import NIOHTTP1

/// Collects one request (head, body up to 1 MiB, end) and hands it to the
/// API; the reply closes the connection.
final class KVHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    static let bodyBytesMax = 1 << 20

    let api: KVAPI
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var isTooLarge = false

    init(api: KVAPI) { self.api = api }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            isTooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > Self.bodyBytesMax {
                isTooLarge = true
            } else {
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let version = head.version
            if isTooLarge {
                HTTPReply.error(.payloadTooLarge, "a body above \(Self.bodyBytesMax) bytes").write(to: context, version: version)
                return
            }
            api.handle(method: head.method, uri: head.uri, body: body) { reply in
                reply.write(to: context, version: version)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
