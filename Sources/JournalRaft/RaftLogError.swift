public import Journal
public import JournalStorage
import JournalPrimitives

/// Every way the raft log store can fail. The raft I/O maps each to one of
/// raft's error codes (`RAFT_IOERR`, `RAFT_CORRUPT`, `RAFT_CANTBOOTSTRAP`)
/// and keeps the description as raft's error message.
public enum RaftLogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A journal record that is not a record of the raft log store.
    case malformedRecord(String)
    /// Records that decode but contradict each other (an entry that does not
    /// follow the log, a snapshot the log cannot join).
    case inconsistentLog(String)
    /// A snapshot file that a durable record names is absent or damaged.
    case damagedSnapshot(String)
    /// `bootstrap` on a store that already holds state.
    case notPristine
    /// The journal failed (including a poisoned journal after a failed write).
    case journal(JournalError)
    /// A snapshot file operation failed.
    case storage(StorageError)
    /// The store belongs to another cluster: it recorded `recorded` as its
    /// cluster ID when it was created, and was opened with `given`.
    case wrongCluster(recorded: UInt64, given: UInt64)
    /// The store belongs to another server of the cluster: it recorded
    /// server ID `recorded`, and was opened (or raft started) as `given`.
    case wrongServer(recorded: UInt64, given: UInt64)
    /// The disk (or the journal's segment limit) is full: the node stops; it
    /// can restart once space is freed. `detail` names what failed.
    case noSpace(String)

    public var description: String {
        switch self {
        case .malformedRecord(let d): "malformed raft record: \(d)"
        case .inconsistentLog(let d): "inconsistent raft log: \(d)"
        case .damagedSnapshot(let d): "damaged raft snapshot: \(d)"
        case .notPristine: "the raft log store already holds a term, entries or a snapshot"
        case .journal(let e): "journal: \(e)"
        case .storage(let e): "snapshot storage: \(e)"
        case .wrongCluster(let r, let g):
            "the raft store belongs to cluster \(hex(r)), not to cluster \(hex(g)): refusing to start on another cluster's data"
        case .wrongServer(let r, let g): "the raft store belongs to server \(r), not to server \(g): refusing to start with the wrong id"
        case .noSpace(let d): "no space left for the raft log: \(d); the node stops until space is freed"
        }
    }

    /// Whether the store's data is damaged (a journal record or snapshot that
    /// fails its checks or contradicts the others): the node must not rejoin
    /// the cluster with it (it could serve stale data); its store must be
    /// replaced by a fresh one added as a new member.
    public var isCorruption: Bool {
        switch self {
        case .malformedRecord, .inconsistentLog, .damagedSnapshot, .journal(.corruption): true
        default: false
        }
    }

    /// Maps a journal error, naming a full disk or journal as `noSpace`.
    static func from(_ error: JournalError) -> RaftLogError {
        switch error {
        case .journalFull: .noSpace("\(error)")
        case .io(let e) where e.errno == .noSpace: .noSpace("\(e)")
        case .poisoned(let e) where e.errno == .noSpace: .noSpace("\(e)")
        default: .journal(error)
        }
    }

    /// Maps a snapshot storage error the same way.
    static func from(_ error: StorageError) -> RaftLogError {
        error.errno == .noSpace ? .noSpace("\(error)") : .storage(error)
    }
}

private func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
