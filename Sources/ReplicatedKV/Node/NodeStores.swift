import Glibc
import Journal
import JournalFileStorage
import JournalRaft
import JournalStorage
import KeyValueStore
import PageStore

/// The durable state of a node, opened (created on first start) under its
/// store directory: the identity line, the raft log store on its journal in
/// `raft/`, the key-value store in `kv/`.
struct NodeStores: @unchecked Sendable {
    let journal: Journal
    let raftStore: RaftLogStore
    /// The key-value store, replaced in place when a snapshot is installed.
    let kvBox: KVStoreBox
    /// The key-value store open now.
    var kv: KeyValueStore { kvBox.store }

    static func open(_ options: KVServiceOptions) throws(ReplicatedKVError) -> NodeStores {
        let root = options.storePath
        if mkdir(root, 0o700) != 0, errno != EEXIST { throw .store("cannot create \(root): errno \(errno)") }
        let raftPath = root + "/raft"
        let hasRaftLog = access(raftPath, F_OK) == 0
        try ClusterIdentity.check(directory: root, options: options, hasRaftLog: hasRaftLog)
        var fs = FileSystemStorage.Options()
        fs.directIO = options.directIO
        fs.fileMode = 0o600
        let journal: Journal
        let raftStore: RaftLogStore
        do throws(JournalError) {
            if !hasRaftLog || access(raftPath + "/journal.meta", F_OK) != 0 {
                try Journal.create(path: raftPath, configuration: options.journalConfiguration, directIO: options.directIO)
            }
            journal = try Journal.open(path: raftPath, directIO: options.directIO)
        } catch { throw Self.error(error) }
        do throws(RaftLogError) {
            let snapshots: FileSystemStorage
            do { snapshots = try FileSystemStorage(path: raftPath, options: fs) } catch { throw .storage(error) }
            // The log store records the cluster and member too, so a raft
            // directory moved under another node's store is refused as well.
            let identity = RaftStoreIdentity(clusterID: options.clusterID, serverID: options.id)
            raftStore = try RaftLogStore(journal: journal, snapshotStorage: snapshots, identity: identity)
        } catch {
            journal.close()
            throw Self.error(error, path: raftPath)
        }
        let kv: KeyValueStore
        let location: PageStoreLocation
        do throws(KeyValueError) {
            do { location = try PageStoreLocation.directory(path: root + "/kv", options: fs, create: true) } catch { throw .store(error) }
            if (try? location.root.fileNames().contains("store.meta")) != true {
                var configuration = PageStoreConfiguration()
                configuration.journal = options.journalConfiguration
                try KeyValueStore.create(location: location, configuration: configuration)
            }
            kv = try KeyValueStore.open(location: location)
        } catch {
            journal.close()
            throw Self.error(error)
        }
        return NodeStores(journal: journal, raftStore: raftStore, kvBox: KVStoreBox(store: kv, location: location, options: PageStoreOptions()))
    }

    static func error(_ e: JournalError) -> ReplicatedKVError {
        switch e {
        case .corruption: .corruption("raft log: \(e)")
        case .locked: .locked("raft log: \(e)")
        default: .store("raft log: \(e)")
        }
    }

    static func error(_ e: RaftLogError, path: String) -> ReplicatedKVError {
        switch e {
        case .wrongCluster, .wrongServer: .otherCluster(path: path, detail: "\(e)")
        case .journal(let j): error(j)
        case _ where e.isCorruption: .corruption("\(e)")
        default: .store("raft log: \(e)")
        }
    }

    static func error(_ e: KeyValueError) -> ReplicatedKVError {
        switch e {
        case .corruption, .store(.corruption), .store(.journal(.corruption)): .corruption("key-value store: \(e)")
        case .store(.locked), .store(.journal(.locked)): .locked("key-value store: \(e)")
        default: .store("key-value store: \(e)")
        }
    }
}

extension KVServiceOptions {
    /// The configuration of the node's journals.
    var journalConfiguration: JournalConfiguration {
        var c = JournalConfiguration()
        c.segmentBytes = journalSegmentBytes
        c.recordBytesMax = journalSegmentBytes / 4
        return c
    }
}
