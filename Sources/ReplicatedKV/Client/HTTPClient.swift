import Glibc

/// An HTTP response as the client reads it.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// The first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Why a request to the cluster failed.
public enum KVClientError: Error, Sendable, CustomStringConvertible {
    /// No node answered, or none could serve the request in time.
    case unavailable(String)
    /// A node refused the request (a 4xx other than 404): its status and error.
    case refused(status: Int, message: String)

    public var description: String {
        switch self {
        case .unavailable(let m): "cluster unavailable: \(m)"
        case .refused(let s, let m): "refused (HTTP \(s)): \(m)"
        }
    }
}

/// A minimal blocking HTTP/1.1 client: one request per connection
/// (`Connection: close`), the response read to the end of the stream.
public enum HTTPClient {
    /// Sends one request to `address` and reads the whole response.
    public static func request(
        _ method: String, _ address: HostPort, path: String, body: [UInt8] = [], timeoutMilliseconds: Int = 10_000
    ) throws(KVClientError) -> HTTPResponse {
        let fd = try connect(address, timeoutMilliseconds: timeoutMilliseconds)
        defer { close(fd) }
        let head = "\(method) \(path) HTTP/1.1\r\nHost: \(address)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        try sendAll(fd, Array(head.utf8) + body, address)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unavailable("\(address): reading the response: errno \(errno)")
            }
            bytes += chunk[0..<n]
        }
        guard let response = parse(bytes) else { throw .unavailable("\(address): a malformed response") }
        return response
    }

    static func connect(_ address: HostPort, timeoutMilliseconds: Int) throws(KVClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(address.host, String(address.port), &hints, &list) == 0, let first = list else {
            throw .unavailable("\(address): cannot resolve the host")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .unavailable("socket: errno \(errno)") }
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        guard Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let e = errno
            close(fd)
            throw .unavailable("\(address): connect: \(String(cString: strerror(e)))")
        }
        return fd
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8], _ address: HostPort) throws(KVClientError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unavailable("\(address): sending the request: errno \(errno)")
            }
            offset += n
        }
    }

    /// Status line, headers, then the body (the rest, or Content-Length bytes).
    static func parse(_ bytes: [UInt8]) -> HTTPResponse? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) }) else { return nil }
        let lines = String(decoding: bytes[0..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " })))
        }
        var body = Array(bytes[(end + 4)...])
        if let length = headers.first(where: { $0.name.lowercased() == "content-length" }).flatMap({ Int($0.value) }) {
            guard body.count >= length else { return nil }
            body = Array(body.prefix(length))
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }
}
