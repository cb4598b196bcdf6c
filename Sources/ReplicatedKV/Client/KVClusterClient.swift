import Glibc

/// A client of the replicated key-value service that knows several nodes:
/// it follows redirects to the leader, and when a node does not answer or
/// answers 503 (no leader, no quorum) it tries the others until its
/// deadline. A put or delete retried this way may apply twice, which both
/// tolerate (the same value, the same absence). It keeps one connection
/// alive per node. Not thread-safe: one client per thread.
public final class KVClusterClient {
    public let endpoints: [HostPort]
    /// How long one operation keeps trying.
    public var deadlineMilliseconds: Int
    /// The node tried first: the last one that answered.
    private var preferred = 0
    /// Kept-alive connections, by node address.
    private var connections: [String: HTTPConnection] = [:]

    public init(endpoints: [HostPort], deadlineMilliseconds: Int = 15_000) {
        precondition(!endpoints.isEmpty, "a cluster client needs a node")
        self.endpoints = endpoints
        self.deadlineMilliseconds = deadlineMilliseconds
    }

    /// Parses `HOST:PORT,HOST:PORT,...` (the nodes' HTTP addresses).
    public static func endpoints(parsing text: String) throws(ReplicatedKVError) -> [HostPort] {
        var out: [HostPort] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) { out.append(try HostPort(parsing: item)) }
        return out
    }

    /// Sets `key` to `value` once the cluster committed it; returns its raft index.
    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(KVClientError) -> UInt64 {
        try index(perform("PUT", key: key, body: value))
    }

    /// Removes `key` once the cluster committed it; returns its raft index.
    @discardableResult
    public func delete(_ key: [UInt8]) throws(KVClientError) -> UInt64 {
        try index(perform("DELETE", key: key, body: []))
    }

    /// The value of `key` (a linearizable read), or nil.
    public func get(_ key: [UInt8]) throws(KVClientError) -> [UInt8]? {
        let response = try perform("GET", key: key, body: [])
        return response.status == 404 ? nil : response.body
    }

    private func index(_ response: HTTPResponse) throws(KVClientError) -> UInt64 {
        let text = response.text
        guard let colon = text.firstIndex(of: ":"), let index = UInt64(text[text.index(after: colon)...].filter(\.isNumber)) else {
            throw .unavailable("a reply without an index: \(text)")
        }
        return index
    }

    /// Sends a key request to the nodes in turn until one serves it.
    public func perform(_ method: String, key: [UInt8], body: [UInt8]) throws(KVClientError) -> HTTPResponse {
        try perform(method, path: "/kv/" + HTTPTarget.percentEncoded(key), body: body)
    }

    /// The node tried first: the last that served a request.
    var preferredEndpoint: HostPort { endpoints[preferred] }

    /// Sends a request to the nodes in turn until one serves it: the
    /// response (200 or 404), or the refusal of a 4xx.
    public func perform(_ method: String, path: String, body: [UInt8]) throws(KVClientError) -> HTTPResponse {
        let start = Self.nowMilliseconds
        var lastError = "no node tried"
        var attempt = 0
        while true {
            let first = (preferred + attempt) % endpoints.count
            do throws(KVClientError) {
                if let (response, served) = try follow(method, endpoints[first], path: path, body: body, lastError: &lastError) {
                    // The node that served it (the leader a redirect named)
                    // first next time, so later requests skip the redirect.
                    preferred = endpoints.firstIndex(of: served) ?? first
                    return response
                }
            } catch .unavailable(let message) {
                lastError = message
            }
            attempt += 1
            if Self.nowMilliseconds - start > deadlineMilliseconds {
                throw .unavailable("no node served \(method) within \(deadlineMilliseconds) ms; last: \(lastError)")
            }
            if attempt % endpoints.count == 0 { usleep(50_000) }
        }
    }

    /// One node and the redirects it gives: the response and the node that
    /// gave it, or nil when the node cannot serve it now (503).
    private func follow(
        _ method: String, _ node: HostPort, path: String, body: [UInt8], lastError: inout String
    ) throws(KVClientError) -> (HTTPResponse, HostPort)? {
        var target = node
        var targetPath = path
        for _ in 0..<4 {
            let response = try send(method, target, path: targetPath, body: body)
            switch response.status {
            case 307:
                guard let location = response.header("Location"), let (address, next) = Self.split(location) else {
                    throw .unavailable("a redirect without a usable Location")
                }
                target = address
                targetPath = next
            case 503:
                lastError = "\(target): \(response.text)"
                return nil
            case 200, 404:
                return (response, target)
            default:
                throw .refused(status: response.status, message: response.text)
            }
        }
        lastError = "too many redirects"
        return nil
    }

    /// One request on the node's kept-alive connection. A failure on a
    /// connection used before (the node closed it while idle, or restarted)
    /// is retried once on a new one; a write that reached the node may then
    /// apply twice, which puts and deletes tolerate.
    private func send(_ method: String, _ node: HostPort, path: String, body: [UInt8]) throws(KVClientError) -> HTTPResponse {
        let key = node.description
        if let kept = connections[key], kept.isOpen {
            if let response = try? kept.request(method, path: path, body: body) { return response }
        }
        connections[key] = nil
        let connection = try HTTPConnection(node)
        let response = try connection.request(method, path: path, body: body)
        if connection.isOpen { connections[key] = connection }
        return response
    }

    /// `http://HOST:PORT/path` as the address and the path.
    static func split(_ url: String) -> (HostPort, String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let address = try? HostPort(parsing: rest[..<slash]) else { return nil }
        return (address, String(rest[slash...]))
    }

    static var nowMilliseconds: Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }
}
