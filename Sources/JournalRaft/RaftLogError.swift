public import Journal
public import JournalStorage

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

    public var description: String {
        switch self {
        case .malformedRecord(let d): "malformed raft record: \(d)"
        case .inconsistentLog(let d): "inconsistent raft log: \(d)"
        case .damagedSnapshot(let d): "damaged raft snapshot: \(d)"
        case .notPristine: "the raft log store already holds a term, entries or a snapshot"
        case .journal(let e): "journal: \(e)"
        case .storage(let e): "snapshot storage: \(e)"
        }
    }
}
