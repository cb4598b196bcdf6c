import Journal

// Recovery of the raft log store: the records from the journal's oldest LSN
// to its durable end, applied in order (raft-log-format.md, "Recovery").
// Truncation markers and installed snapshots remove entries; the result is
// the term, the vote, the newest snapshot and the live entries.

/// What recovery rebuilt from the journal.
struct RaftLogReplay {
    var term: UInt64 = 0
    var votedFor: UInt64 = 0
    /// LSN of the newest state (or bootstrap) record; 0 when none.
    var stateLSN: LSN = 0
    /// The newest snapshot record: index, term, trailing, LSN.
    var snapshot: (index: UInt64, term: UInt64, trailing: UInt64, lsn: LSN)?
    /// Index of `entries[0]`.
    var firstIndex: UInt64 = 1
    var entries: [RaftLogEntry] = []
    /// The LSN of each live entry's record, parallel to `entries`.
    var entryLSNs: [LSN] = []
    /// The recorded identity, with the LSN of its newest record.
    var identity: (identity: RaftStoreIdentity, lsn: LSN)?
    /// Whether any record other than an identity was seen.
    var sawRecord = false

    /// The index the next appended entry takes.
    var nextIndex: UInt64 { firstIndex + UInt64(entries.count) }

    /// Applies one record.
    mutating func apply(_ record: RaftRecord, lsn: LSN) throws(RaftLogError) {
        if case .identity(let cluster, let server) = record {
            let recorded = RaftStoreIdentity(clusterID: cluster, serverID: server)
            if let identity, identity.identity != recorded {
                throw .inconsistentLog("identity \(recorded) at LSN \(lsn) contradicts \(identity.identity)")
            }
            identity = (recorded, lsn)
            return
        }
        defer { sawRecord = true }
        switch record {
        case .state(let t, let vote):
            term = t
            votedFor = vote
            stateLSN = lsn
        case .bootstrap(let configuration):
            guard !sawRecord else { throw .inconsistentLog("a bootstrap record at LSN \(lsn) after records other than the identity") }
            term = 1
            votedFor = 0
            stateLSN = lsn
            firstIndex = 1
            entries = [RaftLogEntry(term: 1, type: RaftEntryType.change, payload: configuration)]
            entryLSNs = [lsn]
        case .entry(let index, let entry):
            if entries.isEmpty {
                firstIndex = index
            } else if index != nextIndex {
                throw .inconsistentLog("entry \(index) at LSN \(lsn) does not follow entry \(nextIndex - 1)")
            }
            entries.append(entry)
            entryLSNs.append(lsn)
        case .truncation(let fromIndex):
            removeEntries(from: fromIndex)
        case .snapshot(let index, let t, let trailing):
            snapshot = (index, t, trailing, lsn)
            if trailing == 0 { removeEntries(from: 0) }
        case .identity:
            preconditionFailure("handled above")
        }
    }

    /// Removes the live entries at `index` and above.
    mutating func removeEntries(from index: UInt64) {
        guard !entries.isEmpty, index < nextIndex else { return }
        let keep = index <= firstIndex ? 0 : Int(index - firstIndex)
        entries.removeSubrange(keep...)
        entryLSNs.removeSubrange(keep...)
    }

    /// Checks that the entries join the snapshot (or start the log), and
    /// drops entries the snapshot wholly covers.
    mutating func finish() throws(RaftLogError) {
        guard let snapshot else {
            if !entries.isEmpty && firstIndex != 1 {
                throw .inconsistentLog("the log starts at entry \(firstIndex) with no snapshot before it")
            }
            return
        }
        if entries.isEmpty || nextIndex - 1 < snapshot.index {
            removeEntries(from: 0)
            firstIndex = snapshot.index + 1
        } else if firstIndex > snapshot.index + 1 {
            throw .inconsistentLog("the log starts at entry \(firstIndex), after snapshot \(snapshot.index) + 1")
        }
    }

    /// Replays every durable record of `journal`.
    static func replay(_ journal: Journal) throws(RaftLogError) -> RaftLogReplay {
        var replay = RaftLogReplay()
        var failure: RaftLogError?
        do {
            try journal.forEachRecord(from: journal.oldestLSN) { lsn, bytes in
                switch RaftRecord.decode(bytes) {
                case .success(let record):
                    do throws(RaftLogError) { try replay.apply(record, lsn: lsn) } catch { failure = error; return false }
                case .failure(let error):
                    failure = .malformedRecord("LSN \(lsn): \(error)")
                    return false
                }
                return true
            }
        } catch let error as JournalError {
            throw .journal(error)
        } catch {
            throw .inconsistentLog("\(error)")
        }
        if let failure { throw failure }
        try replay.finish()
        return replay
    }
}

/// Raft's entry type codes (`RAFT_COMMAND`, `RAFT_BARRIER`, `RAFT_CHANGE`),
/// for code that does not import the C library.
public enum RaftEntryType {
    public static let command: UInt16 = 1
    public static let barrier: UInt16 = 2
    public static let change: UInt16 = 3
}
