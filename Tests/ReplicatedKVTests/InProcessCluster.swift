import Foundation
import Glibc
@testable import ReplicatedKV
import TestSupport
import Testing

/// Three nodes of the service in the test's own process (each on its own
/// event loop), for tests that reach into a node: hooks, callbacks.
final class InProcessCluster {
    let directory: TemporaryDirectory
    let ports: PortReservation
    let peers: ClusterPeers
    private(set) var services: [UInt64: KVService] = [:]
    /// Fatal errors the nodes reported.
    let fatal = LockedBox<[String]>([])
    /// Removals the nodes reported, by node.
    let removed = LockedBox<[UInt64: String]>([:])

    init(label: String) throws {
        directory = TemporaryDirectory(on: .tmp, label)
        ports = try PortReservation(count: 6)
        let ports = ports.ports
        peers = try ClusterPeers(parsing: (0..<3).map { "\($0 + 1)=127.0.0.1:\(ports[2 * $0])/\(ports[2 * $0 + 1])" }.joined(separator: ","))
    }

    deinit { for id in Array(services.keys) { stop(id) } }

    /// Node `id`'s options: short timeouts, frequent snapshots.
    func options(_ id: UInt64) throws -> KVServiceOptions {
        var o = try KVServiceOptions(storePath: "\(directory.path)/node\(id)", id: id, peers: peers)
        o.reusePort = true
        o.electionTimeoutMilliseconds = 300
        o.heartbeatTimeoutMilliseconds = 50
        o.requestTimeoutMilliseconds = 3000
        o.journalSegmentBytes = 1 << 20
        o.snapshotThreshold = 16
        o.snapshotTrailing = 4
        return o
    }

    func start(_ options: KVServiceOptions) throws {
        let (fatal, removed, id) = (fatal, removed, options.id)
        services[id] = try KVService.start(options, onFatal: { message in
            fatal.set(fatal.get() + [message.description])
        }, onRemoved: { why in
            var all = removed.get()
            all[id] = why
            removed.set(all)
        })
    }

    func stop(_ id: UInt64) {
        services[id]?.stop(graceMilliseconds: 100)
        services[id] = nil
    }

    func http(_ id: UInt64) -> HostPort { HostPort(host: "127.0.0.1", port: ports.ports[2 * Int(id) - 1]) }

    /// A client of the nodes `ids`.
    func client(_ ids: [UInt64] = [1, 2, 3]) -> KVClusterClient { KVClusterClient(endpoints: ids.map(http)) }

    /// Node `id`'s status; nil when it answers otherwise.
    func status(_ id: UInt64) throws -> [String: Any]? {
        let response = try HTTPClient.request("GET", http(id), path: "/status", timeoutMilliseconds: 5000)
        guard response.status == 200 else { return nil }
        return try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
    }

    /// The running node that reports itself leader, if any.
    var leader: UInt64? {
        services.keys.sorted().first { (try? status($0))?["state"] as? String == "leader" }
    }

    /// Polls `condition` until it holds, for at most a bound far above what
    /// a working cluster needs; false if it never did.
    static func waitUntil(limitSeconds: Double = 120, _ condition: () -> Bool) -> Bool {
        let start = nowSeconds()
        while nowSeconds() - start < limitSeconds {
            if condition() { return true }
            usleep(20_000)
        }
        return false
    }
}
