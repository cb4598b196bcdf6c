import JournalPrimitives
import NIOCore
import NIOHTTP1

/// One HTTP response of the API.
struct HTTPReply {
    var status: HTTPResponseStatus
    var body: [UInt8]
    var contentType = "application/json"
    var location: String?

    static func json(_ status: HTTPResponseStatus, _ text: String) -> HTTPReply {
        HTTPReply(status: status, body: Array((text + "\n").utf8))
    }

    static func error(_ status: HTTPResponseStatus, _ message: String) -> HTTPReply {
        json(status, JSON.error(message))
    }

    /// 503 from a node that is stopping (SIGTERM): `"reason": "stopping"`
    /// tells it apart from a 503 of the cluster (no leader, lost quorum,
    /// leadership lost), so a client knows to go to another node.
    static func stopping(_ message: String) -> HTTPReply {
        json(.serviceUnavailable, JSON.object([("error", JSON.quote(message)), ("reason", JSON.quote("stopping"))]))
    }

    /// 503 from a node removed from the cluster: `"reason": "removed"`.
    static func removed() -> HTTPReply {
        json(.serviceUnavailable, JSON.object([
            ("error", JSON.quote("this node was removed from the cluster; ask another member")), ("reason", JSON.quote("removed")),
        ]))
    }

    static func value(_ bytes: [UInt8]) -> HTTPReply {
        HTTPReply(status: .ok, body: bytes, contentType: "application/octet-stream")
    }

    static func redirect(to url: String, leader: UInt64) -> HTTPReply {
        var reply = json(.temporaryRedirect, JSON.object([("leader", "\(leader)"), ("location", JSON.quote(url))]))
        reply.location = url
        return reply
    }

    /// Writes the reply on `context`'s channel without flushing it (the
    /// caller flushes once for the replies of one turn of the loop); unless
    /// `keepAlive`, closes the connection once it is written. `written` runs
    /// on the loop when the write completed or failed.
    func write(to context: ChannelHandlerContext, version: HTTPVersion, keepAlive: Bool, written: @escaping () -> Void = {}) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        if let location { headers.add(name: "Location", value: location) }
        let head = HTTPResponseHead(version: version, status: status, headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        let done = context.eventLoop.makePromise(of: Void.self)
        context.write(NIOAny(HTTPServerResponsePart.end(nil)), promise: done)
        let channel = context.channel
        done.futureResult.assumeIsolated().whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
            written()
        }
    }
}

/// A request's target: the key of `/kv/{key}` (percent-decoded), and
/// whether the query asks for a local read.
enum HTTPTarget: Equatable {
    case status
    case key([UInt8], local: Bool)
    /// `/cluster/members`, and `/cluster/members/{id}`.
    case members
    case member(UInt64)
    case unknown

    init(_ uri: String) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map(String.init) ?? ""
        let query = parts.count > 1 ? String(parts[1]) : ""
        if path == "/status" {
            self = .status
        } else if path == "/cluster/members" {
            self = .members
        } else if path.hasPrefix("/cluster/members/"), let id = UInt64(path.dropFirst(17)), id > 0 {
            self = .member(id)
        } else if path.hasPrefix("/kv/"), let key = Self.percentDecoded(path.dropFirst(4)), !key.isEmpty {
            self = .key(key, local: query.split(separator: "&").contains { $0 == "local" || $0 == "local=true" })
        } else {
            self = .unknown
        }
    }

    static func percentDecoded(_ s: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            guard b == UInt8(ascii: "%") else {
                out.append(b)
                continue
            }
            guard bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            out.append(v)
            bytes = bytes.dropFirst(2)
        }
        return out
    }

    /// `key` percent-encoded for a path (unreserved bytes kept).
    static func percentEncoded(_ key: [UInt8]) -> String {
        var out = ""
        for b in key {
            let c = Character(Unicode.Scalar(b))
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "-._~".contains(c) {
                out.append(c)
            } else {
                let h = String(b, radix: 16, uppercase: true)
                out += "%" + (h.count == 1 ? "0" + h : h)
            }
        }
        return out
    }
}
