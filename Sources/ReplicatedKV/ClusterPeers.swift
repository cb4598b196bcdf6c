import JournalPrimitives

/// A host and port, as given on the command line (`HOST:PORT`).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (the port after the last colon, 0...65535).
    public init(parsing text: Substring) throws(ReplicatedKVError) {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex,
              let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw .malformedPeers("'\(text)' is not HOST:PORT")
        }
        host = String(text[..<colon])
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}

/// One member of the cluster: its raft id, the address its raft transport
/// listens on and the port of its HTTP API (on the same host).
public struct ClusterPeer: Sendable, Equatable {
    public var id: UInt64
    public var raft: HostPort
    public var httpPort: Int

    /// The address of the member's HTTP API.
    public var http: HostPort { HostPort(host: raft.host, port: httpPort) }

    /// The address raft's configuration carries: `HOST:RAFT_PORT/HTTP_PORT`.
    public var address: String { "\(raft)/\(httpPort)" }

    /// Parses one peers entry, `ID=HOST:RAFT_PORT/HTTP_PORT`.
    public init(parsing entry: Substring) throws(ReplicatedKVError) {
        self = try ClusterPeers.member(entry)
    }

    init(id: UInt64, raft: HostPort, httpPort: Int) {
        self.id = id
        self.raft = raft
        self.httpPort = httpPort
    }
}

/// The cluster's members, from `--peers 1=HOST:RAFT_PORT/HTTP_PORT,2=...`.
public struct ClusterPeers: Sendable, Equatable {
    /// The members, in ascending id order.
    public let members: [ClusterPeer]

    /// Parses the peers list: comma-separated `ID=HOST:RAFT_PORT/HTTP_PORT`,
    /// ids positive and distinct, ports 1...65535.
    public init(parsing text: String) throws(ReplicatedKVError) {
        var members: [ClusterPeer] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            members.append(try Self.member(item))
        }
        try self.init(members: members)
    }

    /// The list of `members`: at least one, ids distinct.
    public init(members: [ClusterPeer]) throws(ReplicatedKVError) {
        var members = members
        guard !members.isEmpty else { throw .malformedPeers("the list is empty") }
        members.sort { $0.id < $1.id }
        for (a, b) in zip(members, members.dropFirst()) where a.id == b.id {
            throw .malformedPeers("id \(a.id) appears twice")
        }
        self.members = members
    }

    static func member(_ item: Substring) throws(ReplicatedKVError) -> ClusterPeer {
        let form = "expected ID=HOST:RAFT_PORT/HTTP_PORT, got '\(item)'"
        guard let eq = item.firstIndex(of: "="), let id = UInt64(item[..<eq]), id > 0,
              let slash = item.lastIndex(of: "/"), slash > eq,
              let httpPort = Int(item[item.index(after: slash)...]), (1...65535).contains(httpPort) else {
            throw .malformedPeers(form)
        }
        let raft = try HostPort(parsing: item[item.index(after: eq)..<slash])
        guard raft.port > 0, !raft.host.isEmpty else { throw .malformedPeers(form) }
        return ClusterPeer(id: id, raft: raft, httpPort: httpPort)
    }

    /// The member with `id`, if any.
    public func member(_ id: UInt64) -> ClusterPeer? { members.first { $0.id == id } }

    /// The canonical text of the list (ids and raft addresses, in id
    /// order): what the cluster's identity is computed from. HTTP ports
    /// are left out, so that they may change without a new cluster.
    public var canonicalText: String {
        members.map { "\($0.id)=\($0.raft)" }.joined(separator: ",")
    }

    /// The cluster's identity: a 64-bit hash of `canonicalText` (two
    /// CRC32C, of the text and of the text reversed).
    public var clusterID: UInt64 {
        let bytes = Array(canonicalText.utf8)
        return UInt64(CRC32C.checksum(bytes)) << 32 | UInt64(CRC32C.checksum(bytes.reversed()))
    }
}
