public import Journal
public import JournalStorage

// The raft log store: raft's persistent state (term, vote, entries,
// snapshots) as records of one journal (raft-log-format.md).
//
// Appends only: entries are appended as records; a conflicting suffix is
// removed by appending a truncation marker, never by overwriting
// acknowledged bytes; term and vote change together in one record. The
// journal's durable LSN says what is on stable storage: an entry appended at
// LSN l is durable once `journal.durableLSN >= l`. Behind a snapshot the
// journal is truncated (whole segments), after the term, the vote and the
// snapshot record have been appended again above the cut.
//
// Not thread-safe: raft drives it from one thread.

/// Which cluster a store belongs to and which server of it it is: recorded
/// when the store is first opened with it, checked at every later open, so
/// that a node started with the wrong id or on another cluster's data
/// refuses to start (`RaftLogError.wrongServer`, `.wrongCluster`).
public struct RaftStoreIdentity: Sendable, Equatable, CustomStringConvertible {
    /// Chosen when the cluster is created (nonzero, the same on every node).
    public var clusterID: UInt64
    /// Raft's server id of this node.
    public var serverID: UInt64

    public init(clusterID: UInt64, serverID: UInt64) {
        self.clusterID = clusterID
        self.serverID = serverID
    }

    public var description: String { "cluster \(String(clusterID, radix: 16)) server \(serverID)" }
}

/// What `RaftLogStore` recovered, in the shape raft's `load` returns.
public struct RaftLoadedLog: Sendable, Equatable {
    public var term: UInt64
    public var votedFor: UInt64
    public var snapshot: RaftSnapshot?
    /// The index of `entries[0]` (or the index after the snapshot's when
    /// there are no entries).
    public var startIndex: UInt64
    public var entries: [RaftLogEntry]
}

public final class RaftLogStore {
    /// The journal the records go to.
    public let journal: Journal
    /// Where snapshot files are kept (the journal's directory may be it).
    public let snapshotStorage: any StorageDirectory

    public private(set) var term: UInt64
    public private(set) var votedFor: UInt64
    /// The index the next appended entry takes.
    public private(set) var nextIndex: UInt64
    /// The newest durable-or-pending snapshot: index, term, trailing.
    public private(set) var snapshotIndex: UInt64 = 0
    public private(set) var snapshotTerm: UInt64 = 0

    /// The identity the store recorded, if any.
    public private(set) var identity: RaftStoreIdentity?

    /// LSN of the newest state record.
    private var stateLSN: LSN
    /// LSN of the newest identity record (0: none).
    private var identityLSN: LSN = 0
    private var snapshotLSN: LSN = 0
    private var snapshotTrailing: UInt64 = 0
    /// Index of `entryLSNs[0]`.
    private var firstIndex: UInt64
    /// The record LSN of each live entry, from `firstIndex`.
    private var entryLSNs: [LSN]
    /// What recovery found, until `load()` hands it over.
    private var recovered: RaftLogReplay?

    /// Recovers the store from `journal` (open for writing) and
    /// `snapshotStorage`.
    public init(journal: Journal, snapshotStorage: any StorageDirectory) throws(RaftLogError) {
        self.journal = journal
        self.snapshotStorage = snapshotStorage
        let replay = try RaftLogReplay.replay(journal)
        term = replay.term
        votedFor = replay.votedFor
        stateLSN = replay.stateLSN
        firstIndex = replay.firstIndex
        entryLSNs = replay.entryLSNs
        nextIndex = replay.nextIndex
        if let s = replay.snapshot {
            snapshotIndex = s.index
            snapshotTerm = s.term
            snapshotLSN = s.lsn
            snapshotTrailing = s.trailing
        }
        if let recorded = replay.identity {
            identity = recorded.identity
            identityLSN = recorded.lsn
        }
        recovered = replay
    }

    /// Recovers the store and checks that it belongs to `identity`: a store
    /// that recorded another cluster or server is refused
    /// (`.wrongCluster`, `.wrongServer`); one that recorded none (new, or
    /// written before identities were recorded) records it, durably.
    public convenience init(journal: Journal, snapshotStorage: any StorageDirectory, identity: RaftStoreIdentity) throws(RaftLogError) {
        try self.init(journal: journal, snapshotStorage: snapshotStorage)
        if let recorded = self.identity {
            if recorded.clusterID != identity.clusterID { throw .wrongCluster(recorded: recorded.clusterID, given: identity.clusterID) }
            if recorded.serverID != identity.serverID { throw .wrongServer(recorded: recorded.serverID, given: identity.serverID) }
            return
        }
        identityLSN = try appendDurably(.identity(clusterID: identity.clusterID, serverID: identity.serverID))
        self.identity = identity
    }

    /// The recovered state, with the snapshot read from its file. The
    /// entries are handed over once; a second call reads the journal again.
    public func load() throws(RaftLogError) -> RaftLoadedLog {
        let replay: RaftLogReplay
        if let recovered { replay = recovered } else { replay = try RaftLogReplay.replay(journal) }
        recovered = nil
        var snapshot: RaftSnapshot?
        if let s = replay.snapshot {
            snapshot = try RaftSnapshotFile.read(index: s.index, term: s.term, from: snapshotStorage)
        }
        let start = replay.entries.isEmpty ? (replay.snapshot.map { $0.index + 1 } ?? 1) : replay.firstIndex
        return RaftLoadedLog(term: replay.term, votedFor: replay.votedFor, snapshot: snapshot, startIndex: start, entries: replay.entries)
    }

    /// True when the store holds nothing: no term, entry or snapshot.
    public var isPristine: Bool { term == 0 && entryLSNs.isEmpty && snapshotIndex == 0 && nextIndex == 1 }

    // MARK: Term and vote

    /// Sets the term (and clears the vote); durable on return.
    public func setTerm(_ newTerm: UInt64) throws(RaftLogError) {
        stateLSN = try appendDurably(.state(term: newTerm, votedFor: 0))
        term = newTerm
        votedFor = 0
    }

    /// Records the vote of the current term; durable on return.
    public func setVote(_ serverID: UInt64) throws(RaftLogError) {
        stateLSN = try appendDurably(.state(term: term, votedFor: serverID))
        votedFor = serverID
    }

    /// Term 1 and entry 1 holding `configuration` (raft's encoding), in one
    /// record; durable on return.
    public func bootstrap(configuration: [UInt8]) throws(RaftLogError) {
        guard isPristine else { throw .notPristine }
        let lsn = try appendDurably(.bootstrap(configuration: configuration))
        term = 1
        votedFor = 0
        stateLSN = lsn
        firstIndex = 1
        entryLSNs = [lsn]
        nextIndex = 2
    }

    /// Forces a configuration (raft's `recover`, after a loss of quorum):
    /// appends a configuration entry holding `configuration` (raft's
    /// encoding) at `nextIndex`, with the term of the last entry (or of the
    /// snapshot, or 1), so that terms never go down along the log; durable on
    /// return. Returns the entry's index.
    @discardableResult
    public func recover(configuration: [UInt8]) throws(RaftLogError) -> UInt64 {
        let replay = try RaftLogReplay.replay(journal)
        let lastTerm = replay.entries.last?.term ?? replay.snapshot?.term ?? 1
        let index = nextIndex
        let lsn = try appendDurably(.entry(index: index, entry: RaftLogEntry(term: max(lastTerm, 1), type: RaftEntryType.change, payload: configuration)))
        if entryLSNs.isEmpty { firstIndex = index }
        entryLSNs.append(lsn)
        nextIndex = index + 1
        return index
    }

    // MARK: Entries

    /// Appends `entries` at `nextIndex` onwards, without waiting; returns the
    /// LSN whose durability makes them all durable.
    ///
    /// On an error none of the entries counts: those already enqueued are
    /// removed again by a truncation marker. If even the marker cannot be
    /// appended the store holds them, `nextIndex` says so, and the error is
    /// `.journal` (the node must stop: raft believes they are not there).
    public func append(_ entries: [RaftLogEntry]) throws(RaftLogError) -> LSN {
        var last = journal.durableLSN
        let start = nextIndex
        for entry in entries {
            do {
                last = try enqueue(.entry(index: nextIndex, entry: entry))
            } catch {
                if nextIndex > start { try truncate(from: start) }
                throw error
            }
            if entryLSNs.isEmpty { firstIndex = nextIndex }
            entryLSNs.append(last)
            nextIndex += 1
        }
        return last
    }

    /// Removes the entries at `index` and above by appending a truncation
    /// marker (durable with the next entries appended after it: the journal
    /// keeps order).
    public func truncate(from index: UInt64) throws(RaftLogError) {
        _ = try enqueue(.truncation(fromIndex: index))
        if !entryLSNs.isEmpty && index < firstIndex + UInt64(entryLSNs.count) {
            let keep = index <= firstIndex ? 0 : Int(index - firstIndex)
            entryLSNs.removeSubrange(keep...)
        }
        nextIndex = index
        if entryLSNs.isEmpty { firstIndex = index }
    }

    // MARK: Snapshots

    /// Writes `snapshot` durably to its file and appends its record, then the
    /// state record again (so that a later cut of the journal keeps both).
    /// Returns the LSN whose durability makes the snapshot current; then
    /// call `compact()`. With `trailing` 0 the snapshot replaces the log.
    public func putSnapshot(_ snapshot: RaftSnapshot, trailing: UInt64) throws(RaftLogError) -> LSN {
        try RaftSnapshotFile.write(snapshot, to: snapshotStorage)
        return try recordSnapshot(snapshot, trailing: trailing)
    }

    /// The second half of `putSnapshot`, once the snapshot's file is
    /// durable (written with `RaftSnapshotFile.write`, which touches nothing
    /// but the snapshot directory and may run on another thread): appends
    /// its record and the state record again.
    func recordSnapshot(_ snapshot: RaftSnapshot, trailing: UInt64) throws(RaftLogError) -> LSN {
        if let identity { identityLSN = try enqueue(.identity(clusterID: identity.clusterID, serverID: identity.serverID)) }
        snapshotLSN = try enqueue(.snapshot(index: snapshot.index, term: snapshot.term, trailing: trailing))
        snapshotIndex = snapshot.index
        snapshotTerm = snapshot.term
        stateLSN = try enqueue(.state(term: term, votedFor: votedFor))
        if trailing == 0 {
            entryLSNs = []
            firstIndex = snapshot.index + 1
            nextIndex = snapshot.index + 1
        }
        snapshotTrailing = trailing
        return stateLSN
    }

    /// The current snapshot, read from its file; nil when there is none.
    public func currentSnapshot() throws(RaftLogError) -> RaftSnapshot? {
        guard snapshotIndex > 0 else { return nil }
        return try RaftSnapshotFile.read(index: snapshotIndex, term: snapshotTerm, from: snapshotStorage)
    }

    /// After the newest snapshot is durable: removes older snapshot files
    /// (but those named in `keeping`, still being read: a later compaction
    /// removes them) and truncates the journal behind the first entry kept
    /// (the last `trailing` entries the snapshot covers, and those after
    /// it). Returns the LSN the journal was truncated before, or nil when
    /// the newest snapshot (a later one than the caller waited for) or its
    /// state record is not durable yet: its own completion compacts then.
    @discardableResult
    public func compact(keeping: Set<String> = []) throws(RaftLogError) -> LSN? {
        guard journal.durableLSN >= max(stateLSN, snapshotLSN) else { return nil }
        let current = RaftSnapshotFile.name(index: snapshotIndex, term: snapshotTerm)
        do {
            for name in try snapshotStorage.fileNames()
            where RaftSnapshotFile.isSnapshotName(name) && name != current && !keeping.contains(name) {
                try snapshotStorage.remove(name)
            }
        } catch {
            throw .from(error)
        }
        let keepFrom = snapshotIndex >= snapshotTrailing ? snapshotIndex - snapshotTrailing + 1 : 1
        var cut = min(snapshotLSN, stateLSN)
        if identity != nil { cut = min(cut, identityLSN) }
        if !entryLSNs.isEmpty && keepFrom < firstIndex + UInt64(entryLSNs.count) {
            let position = keepFrom <= firstIndex ? 0 : Int(keepFrom - firstIndex)
            cut = min(cut, entryLSNs[position])
        }
        let dropped = keepFrom > firstIndex ? min(Int(keepFrom - firstIndex), entryLSNs.count) : 0
        entryLSNs.removeFirst(dropped)
        firstIndex += UInt64(dropped)
        do { try journal.truncate(before: cut) } catch { throw .from(error) }
        return cut
    }

    // MARK: Journal

    private func enqueue(_ record: RaftRecord) throws(RaftLogError) -> LSN {
        // What recovery found no longer describes the store.
        recovered = nil
        do { return try journal.enqueue(record.encoded()) } catch { throw .from(error) }
    }

    private func appendDurably(_ record: RaftRecord) throws(RaftLogError) -> LSN {
        let lsn = try enqueue(record)
        do { try journal.waitUntilDurableBlocking(lsn) } catch { throw .from(error) }
        return lsn
    }
}
