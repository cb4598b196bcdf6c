/// How a node of the replicated key-value service runs.
public struct KVServiceOptions: Sendable {
    /// The node's store directory: `cluster.id`, the raft log in `raft/`,
    /// the key-value store in `kv/`.
    public var storePath: String
    /// The node's raft id: a member of `peers`.
    public var id: UInt64
    /// Every member of the cluster, this node included (for a node that
    /// joins: the members it learned from the cluster, and itself).
    public var peers: ClusterPeers
    /// The cluster's identity: the hash of the bootstrap peers list, or the
    /// id a running cluster reported to a node that joins it.
    public var clusterID: UInt64
    /// Whether the node joins a running cluster rather than bootstrap one:
    /// it writes no configuration and waits until a member adds it
    /// (`POST /cluster/members`).
    public var joining = false
    /// Where the raft transport listens (default: the node's peers entry).
    public var listen: HostPort
    /// Where the HTTP API listens (default: the node's peers entry).
    public var http: HostPort
    /// Bind the listeners with `SO_REUSEPORT`, beside a `PortReservation`
    /// that holds the ports while the node is down (tests, `kv bench`).
    public var reusePort = false
    /// Open files with O_DIRECT (false for file systems that refuse it).
    public var directIO = true
    /// Raft's election timeout (randomized between 1x and 2x).
    public var electionTimeoutMilliseconds: UInt32 = 1000
    /// The leader's heartbeat interval, also the loop's tick.
    public var heartbeatTimeoutMilliseconds: UInt32 = 100
    /// How long a write or read waits for the cluster before answering 503.
    public var requestTimeoutMilliseconds: Int64 = 5000
    /// How long a kept-alive HTTP connection may go without receiving a
    /// byte while no request of its is waiting for an answer before the
    /// node closes it; 0: never.
    public var idleTimeoutMilliseconds: Int64 = 60_000
    /// On a clean stop (SIGTERM), how long requests waiting for the
    /// cluster may still finish before they are answered 503.
    public var stopGraceMilliseconds: Int64 = 2000
    /// The segment size of the node's two journals (the raft log's and the
    /// key-value store's), fixed when the store is created; records are at
    /// most a quarter of it. Recovery after a crash reads up to one segment
    /// past the last record, so smaller segments restart faster.
    public var journalSegmentBytes = 8 << 20
    /// Entries between raft snapshots, and entries kept behind one.
    public var snapshotThreshold: UInt32 = 8192
    public var snapshotTrailing: UInt32 = 2048
    /// Runs off the loop before a snapshot from the leader is installed
    /// there (tests hold an install open with it).
    var installHook: (@Sendable () -> Void)?
    /// Keeps every write waiting in the node's batcher, never proposed
    /// (tests of what answers a write waiting for raft).
    var holdsWrites = false

    /// Options for member `id` of `peers`, listening where its entry says.
    public init(storePath: String, id: UInt64, peers: ClusterPeers) throws(ReplicatedKVError) {
        guard let me = peers.member(id) else { throw .unknownID(id) }
        self.storePath = storePath
        self.id = id
        self.peers = peers
        clusterID = peers.clusterID
        listen = me.raft
        http = me.http
    }
}

extension KVServiceOptions {
    /// Makes these options join the cluster `membership` describes: its id,
    /// its members' addresses, and this node's own entry from `peers`.
    public mutating func join(_ membership: ClusterMembership) throws(ReplicatedKVError) {
        guard let me = peers.member(id) else { throw .unknownID(id) }
        peers = try ClusterPeers(members: membership.peers.members.filter { $0.id != id } + [me])
        clusterID = membership.clusterID
        joining = true
    }

    /// Makes these options resume the membership of a node that joined a
    /// cluster at an earlier start: the store directory records the
    /// cluster (`cluster.id` says `joined`), and raft's log holds the
    /// configurations that name the members. Returns whether it did; a
    /// node that did need not (and does not) ask the cluster again.
    public mutating func resumeJoined() -> Bool {
        guard let cluster = ClusterIdentity.joinedCluster(directory: storePath, id: id) else { return false }
        clusterID = cluster
        joining = true
        return true
    }

    /// This node's peers entry, as raft's configuration carries it.
    var advertisedAddress: String { peers.member(id)?.address ?? listen.description }
}
