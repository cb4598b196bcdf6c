import JournalPrimitives
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
    /// Commands this node applied since it started, and the entries among
    /// them that carried several (batches).
    var commandsApplied: Int
    var batchEntriesApplied: Int
    /// Key requests waiting for raft (set by the API).
    var requestsWaiting = 0

    var json: String {
        var fields: [(String, String)] = [
            ("id", "\(id)"), ("state", JSON.quote(state)),
            ("leader", leaderID.map { "\($0)" } ?? "null"),
            ("leaderHTTP", leaderHTTP.map(JSON.quote) ?? "null"),
            ("term", "\(term)"), ("commitIndex", "\(commitIndex)"), ("lastApplied", "\(lastApplied)"),
            ("snapshotIndex", "\(snapshotIndex)"), ("snapshotsRestored", "\(snapshotsRestored)"),
            ("requestsWaiting", "\(requestsWaiting)"),
            ("commandsApplied", "\(commandsApplied)"), ("batchEntriesApplied", "\(batchEntriesApplied)"),
        ]
        let match = matchIndex.map { (String($0.id), "\($0.index)") }
        fields.append(("matchIndex", JSON.object(match)))
        return JSON.object(fields)
    }
}

extension RaftNode {
    var status: NodeStatus {
        let r = raft.pointee
        let names = [Int32(RAFT_FOLLOWER): "follower", Int32(RAFT_CANDIDATE): "candidate", Int32(RAFT_LEADER): "leader"]
        let state = membership.isRemoved ? "removed" : names[raft_state(raft)] ?? "unavailable"
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
            leaderHTTP: leader.flatMap { member($0)?.http.description },
            term: r.current_term, commitIndex: r.commit_index, lastApplied: r.last_applied,
            snapshotIndex: stores.raftStore.snapshotIndex, snapshotsRestored: machine.snapshotsRestored, matchIndex: match,
            commandsApplied: machine.commandsApplied, batchEntriesApplied: machine.batchEntriesApplied)
    }
}

extension JSON {
    /// The API's error document.
    static func error(_ message: String) -> String { object([("error", quote(message))]) }
}
