import CRaft
import JournalRaft

/// One membership change of a run's plan: a node joins (raft's `raft_add`,
/// then `raft_assign` to make it a voter) or leaves (`raft_remove`, then it
/// is shut down for good).
enum MembershipStep: Equatable, CustomStringConvertible {
    case join(UInt64)
    case leave(UInt64)

    var description: String {
        switch self {
        case .join(let id): "join \(id)"
        case .leave(let id): "leave \(id)"
        }
    }
}

extension SimCluster {
    /// Takes the plan one request at a time through the leader, judging each
    /// step by the leader's committed configuration, so that a request whose
    /// outcome was lost (leader crashed, partitioned, timed out) is simply
    /// made again or found done.
    func driveMembership() {
        guard let step = plan.first, clock.nowMilliseconds >= planStartMilliseconds else { return }
        if let change {
            let leading = nodes.first { $0.id == change.leader }?.isLeader ?? false
            if leading && clock.nowMilliseconds - change.sinceMilliseconds < 2_000 { return }
            self.change = nil // abandoned: the configuration says what happened
        }
        guard let leader = members.first(where: \.isLeader), let raft = leader.raft,
              raft.pointee.configuration_uncommitted_index == 0 else { return }
        let server = leader.configuration.first { $0.id == step.id }
        switch step {
        case .join(let id):
            if server == nil {
                if !nodes.contains(where: { $0.id == id }) {
                    do { try addNode(id: id, bootstrap: nil) } catch {
                        nodes.first?.failure = "node \(id) could not be created: \(error)"
                        return
                    }
                }
                request(on: leader) { raft_add(raft, $0, id, "n\(id)", $1) }
            } else if server?.role != Int32(RAFT_VOTER) {
                request(on: leader) { raft_assign(raft, $0, id, Int32(RAFT_VOTER), $1) }
            } else {
                plan.removeFirst()
            }
        case .leave(let id):
            if server != nil {
                request(on: leader) { raft_remove(raft, $0, id, $1) }
            } else {
                if let node = nodes.first(where: { $0.id == id }) {
                    node.crash()
                    node.retired = true
                }
                plan.removeFirst()
            }
        }
    }

    /// A membership request in flight.
    final class ChangeRequest {
        unowned let cluster: SimCluster
        let generation: Int
        init(cluster: SimCluster, generation: Int) {
            self.cluster = cluster
            self.generation = generation
        }
    }

    /// Makes one request through `call` (raft's function with the request
    /// and the callback); its completion clears `change`.
    private func request(on leader: SimNode, _ call: (UnsafeMutablePointer<raft_change>, raft_change_cb) -> Int32) {
        changeGeneration += 1
        changeRequests += 1
        let req = UnsafeMutablePointer<raft_change>.allocate(capacity: 1)
        req.initialize(to: raft_change())
        req.pointee.data = Unmanaged.passRetained(ChangeRequest(cluster: self, generation: changeGeneration)).toOpaque()
        let rv = call(req) { req, status in
            guard let req, let data = req.pointee.data else { return }
            let request = Unmanaged<ChangeRequest>.fromOpaque(data).takeRetainedValue()
            if status != 0 { request.cluster.changeFailures += 1 }
            if request.cluster.change?.generation == request.generation { request.cluster.change = nil }
            req.deallocate()
        }
        if rv == 0 {
            change = (changeGeneration, clock.nowMilliseconds, leader.id)
        } else {
            changeFailures += 1
            Unmanaged<ChangeRequest>.fromOpaque(req.pointee.data!).release()
            req.deallocate()
        }
    }

    /// The voters of the leader's committed configuration, or nil when there
    /// is no leader or its configuration is not committed.
    var committedVoters: [UInt64]? {
        guard let leader = members.first(where: \.isLeader), let raft = leader.raft,
              raft.pointee.configuration_uncommitted_index == 0 else { return nil }
        return leader.configuration.filter { $0.role == Int32(RAFT_VOTER) }.map(\.id).sorted()
    }
}

extension MembershipStep {
    var id: UInt64 {
        switch self {
        case .join(let id), .leave(let id): id
        }
    }
}

extension SimCluster {
    /// The voters of the committed configuration once a leader has one
    /// (stepping the cluster up to a simulated second for it), or nil.
    func finalVoters() -> [UInt64]? {
        let deadline = clock.nowMilliseconds + 1_000
        while clock.nowMilliseconds < deadline {
            if let voters = committedVoters { return voters }
            step()
        }
        return nil
    }
}
