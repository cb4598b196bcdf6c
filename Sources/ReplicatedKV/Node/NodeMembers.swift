import CRaft
import JournalPrimitives

// Membership. Raft's configuration entries carry each server's address,
// and the service writes it as `HOST:RAFT_PORT/HTTP_PORT` (the form of a
// `--peers` entry), so every node learns a member's raft and HTTP addresses
// from the log as soon as it holds the entry that adds it: the transport
// dials by them and redirects name them. Stores bootstrapped with a bare
// `HOST:RAFT_PORT` fall back on the node's `--peers` list for the HTTP port.

/// One server of raft's configuration.
struct ConfigurationServer {
    var id: UInt64
    var role: Int32
    var address: String

    var roleName: String {
        switch role {
        case Int32(RAFT_VOTER): "voter"
        case Int32(RAFT_STANDBY): "standby"
        default: "spare"
        }
    }
}

extension RaftNode {
    /// Raft's current configuration (the last entry, committed or not).
    var configuration: [ConfigurationServer] {
        let c = raft.pointee.configuration
        guard let servers = c.servers else { return [] }
        return (0..<Int(c.n)).map { i in
            ConfigurationServer(id: servers[i].id, role: servers[i].role, address: servers[i].address.map { String(cString: $0) } ?? "")
        }
    }

    /// Whether the last configuration entry is committed (no change pending).
    var isConfigurationCommitted: Bool { raft.pointee.configuration_uncommitted_index == 0 }

    /// Member `id`'s addresses: from raft's configuration, else from the
    /// peers list the node was started with (or learned when it joined).
    func member(_ id: UInt64) -> ClusterPeer? {
        if let server = configuration.first(where: { $0.id == id }),
           let peer = try? ClusterPeer(parsing: Substring("\(id)=\(server.address)")) {
            return peer
        }
        return options.peers.member(id)
    }

    /// `GET /cluster/members`: the cluster id, the leader, and each server
    /// with its address and role; `peers` is the voters and spares as a
    /// `--peers` list, which a joining node reads.
    var membersJSON: String {
        let servers = configuration
        let entries = servers.map { s in
            JSON.object([("id", "\(s.id)"), ("address", JSON.quote(s.address)), ("role", JSON.quote(s.roleName))])
        }
        let peers = servers.compactMap { member($0.id) }.map { "\($0.id)=\($0.address)" }.joined(separator: ",")
        return JSON.object([
            ("cluster", JSON.quote(ClusterIdentity.hex(options.clusterID))),
            ("leader", leaderID.map { "\($0)" } ?? "null"),
            ("committed", isConfigurationCommitted ? "true" : "false"),
            ("members", JSON.array(entries)),
            ("peers", JSON.quote(peers)),
        ])
    }
}
