import NIOCore
import NIOHTTP1

/// Collects each request of a connection (head, body up to 1 MiB, end) and
/// hands it to the API. Connections are kept alive as HTTP/1.1 asks (many
/// requests each; NIO's pipeline handler answers pipelined ones in order)
/// until the client closes, asks `Connection: close`, the connection stays
/// idle past the idle timeout, or the node stops.
final class KVHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    static let bodyBytesMax = 1 << 20

    let api: KVAPI
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var isTooLarge = false
    /// Requests of this connection waiting for their reply.
    private var busyCount = 0
    private var isFlushScheduled = false
    var isBusy: Bool { busyCount > 0 }
    private(set) var channel: (any Channel)?

    init(api: KVAPI) { self.api = api }

    func handlerAdded(context: ChannelHandlerContext) {
        channel = context.channel
        api.connections.opened(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        api.connections.closed(self)
    }

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
            busyCount += 1
            if isTooLarge {
                return reply(.error(.payloadTooLarge, "a body above \(Self.bodyBytesMax) bytes"), to: head, context)
            }
            api.handle(method: head.method, uri: head.uri, body: body) { [self] in reply($0, to: head, context) }
        }
    }

    /// Writes `reply`; the connection stays open if the request asked and
    /// the node is not stopping. Flushed with the others written in this
    /// turn of the loop (a batch's replies, pipelined requests' replies).
    private func reply(_ reply: HTTPReply, to head: HTTPRequestHead, _ context: ChannelHandlerContext) {
        let keepAlive = head.isKeepAlive && !api.isStopping
        reply.write(to: context, version: head.version, keepAlive: keepAlive) { [self] in
            busyCount -= 1
            if keepAlive { api.connections.idle(self) }
        }
        flushThisTurn(context.channel)
    }

    /// Flushes `channel` once, after the work of this turn of the loop.
    private func flushThisTurn(_ channel: any Channel) {
        guard !isFlushScheduled else { return }
        isFlushScheduled = true
        channel.eventLoop.assumeIsolated().execute { [self] in
            isFlushScheduled = false
            channel.flush()
        }
    }

    /// The idle timeout (`IdleStateHandler`, first in the pipeline): nothing
    /// received for that long. The connection closes unless a request of
    /// it waits for an answer (a write waiting for the cluster sends and
    /// receives nothing meanwhile, and must get its answer).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if !isBusy { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The API's open connections, on the loop: when the node stops, idle ones
/// are closed at once and busy ones once their reply is written.
final class HTTPConnections {
    private var open: [ObjectIdentifier: KVHTTPHandler] = [:]
    private var isClosing = false
    private var allClosed: EventLoopPromise<Void>?

    func opened(_ handler: KVHTTPHandler) {
        if isClosing { return handler.channel?.close(promise: nil) ?? () }
        open[ObjectIdentifier(handler)] = handler
    }

    func closed(_ handler: KVHTTPHandler) {
        open[ObjectIdentifier(handler)] = nil
        if open.isEmpty { allClosed?.succeed() }
    }

    /// A connection finished a reply and stays open.
    func idle(_ handler: KVHTTPHandler) {
        if isClosing { handler.channel?.close(promise: nil) }
    }

    /// Closes idle connections now and the others after their reply; the
    /// future completes once none is open.
    func closeAll(on loop: any EventLoop) -> EventLoopFuture<Void> {
        isClosing = true
        if open.isEmpty { return loop.makeSucceededVoidFuture() }
        let promise = loop.makePromise(of: Void.self)
        allClosed = promise
        for handler in open.values where !handler.isBusy { handler.channel?.close(promise: nil) }
        return promise.futureResult
    }
}
