import CRaft
import NIOCore
import NIOPosix

// A node removed from the cluster stops serving. It learns it in one of two
// ways:
// - its own committed configuration no longer names it: a leader that
//   removed itself, or a follower that received the entry and its commit;
// - usually, though, a removed follower never hears of it: canonical raft
//   0.15's leader stops replicating to a server the moment it appends the
//   entry that removes it. Such a node loses its leader, so a node without
//   one asks the members of its configuration for theirs
//   (`GET /cluster/members`); a committed one of this cluster that does not
//   name it means it was removed.
// Only a node that was a member can be removed: one bootstrapped with the
// cluster, or one that joined and has since seen itself in the
// configuration (a node waiting to be added holds configurations without
// itself, and so do the members it asks).

/// What a node knows of its own membership, on the loop.
struct NodeMembership {
    /// It has been a member (bootstrapped, or named by a configuration).
    var wasMember: Bool
    /// It was removed: it refuses requests, and the service stops.
    var isRemoved = false
    /// A question to the other members is under way.
    var isAsking = false
    /// Where the questions run (they block on the network).
    var pool: NIOThreadPool?
}

extension RaftNode {
    /// Checks, on the loop, whether this node was removed; calls
    /// `onRemoved` once when it learns it.
    func checkMembership() {
        guard !membership.isRemoved else { return }
        let servers = configuration
        if servers.contains(where: { $0.id == options.id }) { membership.wasMember = true }
        guard membership.wasMember else { return }
        if isConfigurationSettled, !servers.contains(where: { $0.id == options.id }) {
            return removed("its committed configuration no longer names it")
        }
        if leaderID == nil, !membership.isAsking { askMembers(servers.filter { $0.id != options.id }.compactMap { member($0.id)?.http }) }
    }

    /// Whether raft has a configuration and it is committed and applied
    /// (`KVStateMachine.configurationIsSettled`).
    var isConfigurationSettled: Bool {
        raft.pointee.configuration_index > 0 && KVStateMachine.configurationIsSettled(raft)
    }

    /// Asks `endpoints` for the cluster's membership, off the loop.
    private func askMembers(_ endpoints: [HostPort]) {
        guard !endpoints.isEmpty, let pool = membership.pool else { return }
        membership.isAsking = true
        let (cluster, me) = (options.clusterID, options.id)
        let deadline = Int(options.electionTimeoutMilliseconds) * 2
        pool.runIfActive(eventLoop: loop) { () -> Bool in
            guard let answer = try? KVClusterClient(endpoints: endpoints, deadlineMilliseconds: deadline).membership() else { return false }
            return answer.clusterID == cluster && answer.json.contains("\"committed\": true") && !answer.peers.members.contains { $0.id == me }
        }.assumeIsolated().whenComplete { [self] result in
            membership.isAsking = false
            if case .success(true) = result, !membership.isRemoved, leaderID == nil {
                removed("the cluster's committed configuration no longer names it")
            }
        }
    }

    private func removed(_ why: String) {
        membership.isRemoved = true
        onRemoved(why)
    }

    /// Checks the membership every election timeout, from the loop; the
    /// questions to other members run on `pool`.
    func startMembershipChecks(pool: NIOThreadPool) {
        membership.pool = pool
        let interval = TimeAmount.milliseconds(Int64(max(options.electionTimeoutMilliseconds, 100)))
        membershipTimer = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in self?.checkMembership() }
    }
}
