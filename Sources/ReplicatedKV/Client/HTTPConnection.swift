import Glibc

/// One HTTP/1.1 connection to a node, kept alive for many requests: each
/// request is sent whole and its response read exactly (the node always
/// sends `Content-Length`), so the next request reuses the socket. Not
/// thread-safe: one request at a time.
public final class HTTPConnection {
    public let address: HostPort
    private var fd: Int32
    /// Bytes read past the end of the last response.
    private var buffered: [UInt8] = []

    /// Connects to `address`; reads and writes time out after `timeoutMilliseconds`.
    public init(_ address: HostPort, timeoutMilliseconds: Int = 10_000) throws(KVClientError) {
        self.address = address
        fd = try HTTPClient.connect(address, timeoutMilliseconds: timeoutMilliseconds)
    }

    deinit { close() }

    /// Whether the connection may take another request.
    public var isOpen: Bool { fd >= 0 }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Waits, with no request outstanding, until the node closes the
    /// connection: true once it has (the connection is then closed here
    /// too); false if bytes arrive or the read times out first.
    public func waitUntilClosedByNode() -> Bool {
        guard isOpen else { return false }
        do throws(KVClientError) {
            if try fill() { return false }
        } catch {
            return false
        }
        close()
        return true
    }

    /// Sends one request and reads its response. Without `keepAlive`, or
    /// when the node answers `Connection: close`, the connection closes
    /// after it.
    public func request(_ method: String, path: String, body: [UInt8] = [], keepAlive: Bool = true) throws(KVClientError) -> HTTPResponse {
        guard isOpen else { throw .unavailable("\(address): the connection is closed") }
        let close = keepAlive ? "" : "Connection: close\r\n"
        let head = "\(method) \(path) HTTP/1.1\r\nHost: \(address)\r\nContent-Length: \(body.count)\r\n\(close)\r\n"
        do throws(KVClientError) {
            try HTTPClient.sendAll(fd, Array(head.utf8) + body, address)
            let response = try readResponse()
            if !keepAlive || response.header("Connection")?.lowercased() == "close" { self.close() }
            return response
        } catch {
            self.close()
            throw error
        }
    }

    private func readResponse() throws(KVClientError) -> HTTPResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        var searched = 0
        var headEnd: Int?
        while headEnd == nil {
            headEnd = (max(0, searched - 3)..<max(0, buffered.count - 3)).first { buffered[$0..<($0 + 4)].elementsEqual(separator) }
            searched = buffered.count
            if headEnd == nil, try !fill() { throw .unavailable("\(address): the connection closed before a whole response") }
        }
        guard let headEnd, let (status, headers) = HTTPClient.parseHead(buffered[0..<headEnd]) else {
            throw .unavailable("\(address): a malformed response")
        }
        let bodyStart = headEnd + 4
        let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) }
        if let length {
            while buffered.count < bodyStart + length {
                if try !fill() { throw .unavailable("\(address): the connection closed inside a response body") }
            }
        } else {
            while try fill() {}
            close()
        }
        let bodyEnd = length.map { bodyStart + $0 } ?? buffered.count
        let response = HTTPResponse(status: status, headers: headers, body: Array(buffered[bodyStart..<bodyEnd]))
        buffered.removeFirst(bodyEnd)
        return response
    }

    /// Reads what the socket has; false at the end of the stream.
    private func fill() throws(KVClientError) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffered += chunk[0..<n]
                return true
            }
            if n == 0 { return false }
            if errno != EINTR { throw .unavailable("\(address): reading the response: \(String(cString: strerror(errno)))") }
        }
    }
}
