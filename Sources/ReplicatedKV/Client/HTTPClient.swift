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

/// A minimal blocking HTTP/1.1 client: `request` makes one request on a
/// connection of its own (`Connection: close`); `HTTPConnection` keeps one
/// alive for many.
public enum HTTPClient {
    /// Sends one request to `address` on a new connection and reads the
    /// whole response.
    public static func request(
        _ method: String, _ address: HostPort, path: String, body: [UInt8] = [], timeoutMilliseconds: Int = 10_000
    ) throws(KVClientError) -> HTTPResponse {
        let connection = try HTTPConnection(address, timeoutMilliseconds: timeoutMilliseconds)
        defer { connection.close() }
        return try connection.request(method, path: path, body: body, keepAlive: false)
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

    /// The status line and headers of a response head (before the blank line).
    static func parseHead(_ bytes: ArraySlice<UInt8>) -> (status: Int, headers: [(name: String, value: String)])? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " })))
        }
        return (status, headers)
    }
}
