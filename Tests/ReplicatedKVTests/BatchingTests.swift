import Foundation
import Glibc
import JournalPrimitives
@testable import ReplicatedKV
import Testing
import TestSupport

/// Writes that arrive together share a raft entry (`RaftCommandBatcher`):
/// with many clients at once, the leader applies entries of several
/// commands, and every write it acknowledged is on every node.
@Suite("Replicated key-value service: batched writes")
struct BatchingTests {
    @Test("many concurrent clients: entries carry several commands, and every acknowledged write is on every node")
    func concurrentClients() throws {
        let cluster = try ProcessCluster(size: 3, label: "kv-batching")
        let leader = try cluster.startAll()
        let endpoints = try KVClusterClient.endpoints(parsing: cluster.clusterArgument)
        let clients = 16
        let stopping = LockedValue(false)
        let acknowledged = LockedValue<[Int]>([])
        // Client c writes k<i> = v<i> for i = c, c + clients, ... until stopped.
        let threads = (0..<clients).map { c in
            JoinableThread(name: "batching-\(c)") {
                let client = KVClusterClient(endpoints: endpoints, deadlineMilliseconds: 20_000)
                var i = c
                while !stopping.withLock({ $0 }) {
                    if (try? client.put(Array("k\(i)".utf8), Array("v\(i)".utf8))) != nil {
                        acknowledged.withLock { $0.append(i) }
                    }
                    i += clients
                }
            }
        }
        let batched = cluster.waitUntil("the leader to apply an entry of several commands, and 200 writes acknowledged") { statuses in
            (statuses[leader]?["batchEntriesApplied"] as? Int ?? 0) >= 1 && acknowledged.withLock { $0.count } >= 200
        }
        stopping.withLock { $0 = true }
        for thread in threads { thread.join() }
        #expect(batched, "status: \(String(describing: cluster.status(leader)))")
        let status = try #require(cluster.status(leader))
        let commands = status["commandsApplied"] as? Int ?? 0
        let batches = status["batchEntriesApplied"] as? Int ?? 0
        #expect(batches >= 1 && commands > batches, "commands \(commands), batch entries \(batches)")
        try cluster.checkEveryNode(acknowledged.withLock { $0 })
    }

    @Test("a client redirected to the leader goes to it first from then on")
    func clientKeepsTheLeader() throws {
        let cluster = try ProcessCluster(size: 3, label: "kv-redirect")
        let leader = try cluster.startAll()
        let follower = try #require(cluster.nodes.map(\.id).first { $0 != leader })
        let client = KVClusterClient(endpoints: [cluster.http(follower), cluster.http(leader)])
        try client.put(Array("a".utf8), Array("1".utf8))
        let now = try #require(cluster.waitForLeader())
        #expect(client.preferredEndpoint == cluster.http(now), "the leader, not the follower that redirected")
    }
}
