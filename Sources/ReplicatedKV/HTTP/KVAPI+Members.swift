import CRaft
import JournalPrimitives
import JournalRaft
import NIOHTTP1

// The membership API, on the raft loop:
//
// - `GET /cluster/members` (any member): the configuration (NodeMembers.swift);
//   503 from a node that is not in it (one waiting to join, or removed).
// - `POST /cluster/members` (body `ID=HOST:RAFT_PORT/HTTP_PORT`): adds the
//   server (`raft_add`), then makes it a voter (`raft_assign`; raft first
//   brings its log up to date), answering 200 with the configuration once
//   the entry that makes it a voter is committed.
// - `DELETE /cluster/members/{id}`: removes the server (`raft_remove`),
//   answering once that entry is committed; the leader may remove itself
//   (it steps down then).
//
// Both go through the leader (a follower redirects) and are idempotent:
// each step is chosen from the current configuration, so a request retried
// after a timeout finishes what its first attempt started. Raft takes one
// change at a time; another one in progress answers 503 (retry).

extension KVAPI {
    func handleMembers(method: HTTPMethod, target: HTTPTarget, uri: String, body: [UInt8], respond: @escaping (HTTPReply) -> Void) {
        switch (method, target) {
        case (.GET, .members):
            // A node not (or no longer) in its configuration may hold a stale
            // one: the client asks another.
            guard node.configuration.contains(where: { $0.id == node.options.id }) else {
                return respond(.error(.serviceUnavailable, "this node is not a member of the configuration it holds"))
            }
            return respond(.json(.ok, node.membersJSON))
        case (.POST, .members), (.DELETE, .member):
            break
        default:
            return respond(.error(.methodNotAllowed, "\(method) is not allowed on \(uri)"))
        }
        guard node.isLeader else { return respond(notLeader(uri)) }
        let once = awaitCluster(respond)
        if case .member(let id) = target { return removeStep(id, once) }
        let entry = String(decoding: body, as: UTF8.self).trimmingWhitespace
        do throws(ReplicatedKVError) {
            addStep(try ClusterPeer(parsing: Substring(entry)), once)
        } catch {
            once.reply(.error(.badRequest, "the body must be ID=HOST:RAFT_PORT/HTTP_PORT: \(error)"))
        }
    }

    /// Takes the next step of adding `peer` as a voter, from the configuration.
    private func addStep(_ peer: ClusterPeer, _ once: Once) {
        guard let server = node.configuration.first(where: { $0.id == peer.id }) else {
            return change(once, then: { self.addStep(peer, once) }) { req, cb in
                raft_add(self.node.raft, req, peer.id, peer.address, cb)
            }
        }
        guard server.address == peer.address else {
            return once.reply(.error(.conflict, "server \(peer.id) is a member at \(server.address), not \(peer.address)"))
        }
        if server.role != Int32(RAFT_VOTER) {
            return change(once, then: { self.addStep(peer, once) }) { req, cb in
                raft_assign(self.node.raft, req, peer.id, Int32(RAFT_VOTER), cb)
            }
        }
        committed(once)
    }

    /// Removes server `id` if it is a member.
    private func removeStep(_ id: UInt64, _ once: Once) {
        guard node.configuration.contains(where: { $0.id == id }) else { return committed(once) }
        change(once, then: { self.committed(once) }) { req, cb in raft_remove(self.node.raft, req, id, cb) }
    }

    /// Answers with the configuration once it is committed: at once when
    /// it is, else after a barrier.
    private func committed(_ once: Once) {
        guard node.isLeader else { return once.reply(Self.raftFailure(RAFT_NOTLEADER)) }
        if node.isConfigurationCommitted { return once.reply(.json(.ok, node.membersJSON)) }
        node.barrier { [self] status, _ in
            guard status == 0 else { return once.reply(Self.raftFailure(status)) }
            once.reply(.json(.ok, node.membersJSON))
        }
    }

    /// One configuration change through `call`; `then` runs once it is committed.
    private func change(
        _ once: Once, then: @escaping () -> Void,
        _ call: (UnsafeMutablePointer<raft_change>, raft_change_cb) -> Int32
    ) {
        let rv = RaftRequests.change(call) { status in
            guard status == 0 else { return once.reply(Self.changeFailure(status)) }
            then()
        }
        if rv != 0 { once.reply(Self.changeFailure(rv)) }
        node.pump()
    }

    static func changeFailure(_ status: Int32) -> HTTPReply {
        switch status {
        case RAFT_CANTCHANGE:
            return .error(.serviceUnavailable, "another configuration change is in progress; retry")
        case RAFT_DUPLICATEID, RAFT_DUPLICATEADDRESS, RAFT_BADID, RAFT_BADROLE:
            return .error(.conflict, "raft refused the change: \(String(cString: raft_strerror(status))) (\(status))")
        default:
            return raftFailure(status)
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
