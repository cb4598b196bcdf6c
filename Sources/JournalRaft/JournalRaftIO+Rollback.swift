import CRaft

// Rolling back an uncommitted configuration whose committed predecessor's
// entry is no longer in raft's log.
//
// A follower that holds an uncommitted configuration entry rolls back to
// the committed configuration when a new leader overwrites that entry
// (`deleteConflictingEntries` in canonical raft 0.15's src/replication.c
// calls `membershipRollback`). Raft 0.15 reads the committed configuration
// from its in-memory log, at `configuration_index`, and uses the entry
// without checking that it is there; once a snapshot compacted it away
// (the usual case: configuration changes are rare, snapshots frequent) the
// node dereferences a null entry and crashes, and after a restart it keeps
// the overwritten configuration, since nothing marks it uncommitted any
// more. Later versions of raft keep a copy of the committed configuration
// for this. So does the I/O: `noteCommittedConfiguration` copies raft's
// configuration whenever it is committed (no uncommitted index) and new,
// and before raft handles an AppendEntries that will make it roll back
// with the entry gone, `rollBackIfRaftCannot` rolls back from that copy,
// which leaves raft nothing to roll back.

extension JournalRaftIO {
    /// Copies raft's configuration when it is the committed one at an index
    /// not copied yet.
    func noteCommittedConfiguration() {
        guard let raft else { return }
        let r = raft.pointee
        guard r.configuration_uncommitted_index == 0, r.configuration_index > 0,
              r.configuration_index != committedConfiguration?.index else { return }
        committedConfiguration = (r.configuration_index, RaftMemory.servers(r.configuration))
    }

    /// Before raft handles AppendEntries `a` (as it will: its term is
    /// current, its previous entry matches): if an entry of it conflicts
    /// with an uncommitted configuration entry, raft rolls back, and if the
    /// committed configuration's entry is gone from raft's log, the I/O
    /// rolls back instead from its copy. Mirrors raft 0.15's checks
    /// (`recvAppendEntries`, `checkLogMatchingProperty`,
    /// `deleteConflictingEntries`).
    func rollBackIfRaftCannot(_ a: raft_append_entries) {
        guard let raft, raft.pointee.configuration_uncommitted_index != 0, a.n_entries > 0,
              a.term >= raft.pointee.current_term, let entries = a.entries else { return }
        let r = raft.pointee
        guard r.last_stored != 0 || r.snapshot.put.data == nil else { return } // entries ignored during an install
        if a.prev_log_index > 0 {
            let prev = Self.termOf(r.log, a.prev_log_index)
            guard prev != 0, prev == a.prev_log_term else { return }
        }
        for j in 0..<Int(a.n_entries) {
            let index = a.prev_log_index + 1 + UInt64(j)
            let local = Self.termOf(r.log, index)
            if local == 0 { return }
            guard local == entries[j].term else {
                guard index > r.commit_index, r.configuration_uncommitted_index >= index,
                      Self.position(r.log, r.configuration_index) == nil,
                      let committed = committedConfiguration, committed.index == r.configuration_index else { return }
                raft_configuration_close(&raft.pointee.configuration)
                raft.pointee.configuration = RaftMemory.configuration(committed.servers)
                raft.pointee.configuration_uncommitted_index = 0
                return
            }
        }
    }

    /// Raft 0.15's `logTermOf`: the term of entry `index`, the snapshot's
    /// term at its last index, 0 for an entry the log does not hold.
    static func termOf(_ l: raft_log, _ index: UInt64) -> UInt64 {
        if index == l.snapshot.last_index && index > 0 { return l.snapshot.last_term }
        guard let i = position(l, index) else { return 0 }
        return l.entries[i].term
    }

    /// Raft 0.15's `locateEntry`: where entry `index` sits in the log's
    /// circular buffer; nil if it is not there.
    static func position(_ l: raft_log, _ index: UInt64) -> Int? {
        let count = l.front <= l.back ? l.back - l.front : l.size - l.front + l.back
        guard count > 0, index > l.offset, index <= l.offset + UInt64(count), let _ = l.entries else { return nil }
        return (l.front + Int(index - 1 - l.offset)) % l.size
    }
}
