/// The cluster's membership as `GET /cluster/members` reports it.
public struct ClusterMembership: Sendable {
    /// The cluster id (what a joining node records).
    public var clusterID: UInt64
    /// The members with their addresses, as a peers list.
    public var peers: ClusterPeers
    /// The whole JSON document.
    public var json: String
}

extension KVClusterClient {
    /// The membership, from the first node that answers.
    public func membership() throws(KVClientError) -> ClusterMembership {
        let response = try perform("GET", path: "/cluster/members", body: [])
        let text = response.text
        guard let hex = Self.stringField("cluster", in: text), let clusterID = UInt64(hex, radix: 16),
              let list = Self.stringField("peers", in: text), !list.isEmpty,
              let peers = try? ClusterPeers(parsing: list) else {
            throw .unavailable("a membership answer without a cluster id or members: \(text)")
        }
        return ClusterMembership(clusterID: clusterID, peers: peers, json: text)
    }

    /// Adds `peer` as a voter, once the configuration that says so is
    /// committed; returns the new membership's JSON.
    public func addMember(_ peer: ClusterPeer) throws(KVClientError) -> String {
        try perform("POST", path: "/cluster/members", body: Array("\(peer.id)=\(peer.address)".utf8)).text
    }

    /// Removes server `id`, once the configuration without it is committed;
    /// returns the new membership's JSON.
    public func removeMember(_ id: UInt64) throws(KVClientError) -> String {
        try perform("DELETE", path: "/cluster/members/\(id)", body: []).text
    }

    /// The value of string field `name` of a flat JSON object whose strings
    /// hold no escapes (the membership document's).
    static func stringField(_ name: String, in json: String) -> String? {
        guard let marker = json.firstRange(of: "\"\(name)\": \"") else { return nil }
        let value = json[marker.upperBound...]
        guard let end = value.firstIndex(of: "\"") else { return nil }
        return String(value[..<end])
    }
}
