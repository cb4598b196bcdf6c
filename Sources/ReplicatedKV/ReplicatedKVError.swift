/// Every way the replicated key-value service refuses to start or fails.
public enum ReplicatedKVError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A `--peers` list, `--listen` or `--http` value that does not parse.
    case malformedPeers(String)
    /// `--id` names no member of the peers list.
    case unknownID(UInt64)
    /// The store directory was bootstrapped for another cluster (another
    /// peers list) or as another member: serving it would mix two clusters'
    /// histories.
    case otherCluster(path: String, detail: String)
    /// The raft log store, the key-value store or a file failed.
    case store(String)
    /// The raft log or the key-value store is damaged: the node refuses to
    /// rejoin rather than serve stale or wrong data.
    case corruption(String)
    /// Another process holds the store.
    case locked(String)
    /// Raft refused to start (its message).
    case raft(String)
    /// A listening socket could not be bound.
    case bind(address: String, detail: String)
    /// A committed raft entry the node cannot apply (a command kind of a
    /// newer version, or bytes that are no command): it stops rather than
    /// skip it, which would let its replica diverge.
    case refusedEntry(index: UInt64, reason: KVCommandError)

    /// One line naming what failed.
    public var description: String {
        switch self {
        case .malformedPeers(let m): "malformed peers: \(m)"
        case .unknownID(let id): "--id \(id) is not in the peers list"
        case .otherCluster(let p, let d): "\(p) belongs to another cluster: \(d)"
        case .store(let m): m
        case .corruption(let m): "damaged store, refusing to rejoin: \(m)"
        case .locked(let m): m
        case .raft(let m): "raft: \(m)"
        case .bind(let a, let d): "cannot listen on \(a): \(d)"
        case .refusedEntry(let i, let r): "raft entry \(i) holds \(r); refusing to apply it"
        }
    }
}
