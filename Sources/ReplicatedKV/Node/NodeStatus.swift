import CRaft

/// What `GET /status` reports of a node: its raft state, the leader it
/// knows, and on a leader each member's match index.
struct NodeStatus {
    var id: UInt64
    var state: String
    var leaderID: UInt64?
    var leaderHTTP: String?
    var term: UInt64
    var commitIndex: UInt64
    var lastApplied: UInt64
    var snapshotIndex: UInt64
    var snapshotsRestored: Int
    var matchIndex: [(id: UInt64, index: UInt64)]

    var json: String {
        var fields: [(String, String)] = [
            ("id", "\(id)"), ("state", JSONText.quote(state)),
            ("leader", leaderID.map { "\($0)" } ?? "null"),
            ("leaderHTTP", leaderHTTP.map(JSONText.quote) ?? "null"),
            ("term", "\(term)"), ("commitIndex", "\(commitIndex)"), ("lastApplied", "\(lastApplied)"),
            ("snapshotIndex", "\(snapshotIndex)"), ("snapshotsRestored", "\(snapshotsRestored)"),
        ]
        let match = matchIndex.map { (String($0.id), "\($0.index)") }
        fields.append(("matchIndex", JSONText.object(match)))
        return JSONText.object(fields)
    }
}

extension RaftNode {
    var status: NodeStatus {
        let r = raft.pointee
        let names = [Int32(RAFT_FOLLOWER): "follower", Int32(RAFT_CANDIDATE): "candidate", Int32(RAFT_LEADER): "leader"]
        let state = names[raft_state(raft)] ?? "unavailable"
        var match: [(id: UInt64, index: UInt64)] = []
        if isLeader, let progress = r.leader_state.progress {
            for i in 0..<Int(r.configuration.n) {
                let server = r.configuration.servers[i]
                match.append((server.id, server.id == options.id ? r.last_stored : progress[i].match_index))
            }
        }
        let leader = leaderID
        return NodeStatus(
            id: options.id, state: state, leaderID: leader,
            leaderHTTP: leader.flatMap { options.peers.member($0)?.http.description },
            term: r.current_term, commitIndex: r.commit_index, lastApplied: r.last_applied,
            snapshotIndex: stores.raftStore.snapshotIndex, snapshotsRestored: machine.snapshotsRestored, matchIndex: match)
    }
}

/// JSON text for the API's small documents.
enum JSONText {
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case let c where c.value < 0x20:
                let h = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(quote($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    static func error(_ message: String) -> String { object([("error", quote(message))]) }
}
