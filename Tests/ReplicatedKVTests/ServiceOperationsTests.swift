import Foundation
import Glibc
import JournalPrimitives
import ReplicatedKV
import Testing
import TestSupport

/// How `kv serve` is operated: a clean stop on SIGTERM, and HTTP
/// connections kept alive for many requests.
@Suite("Replicated key-value service: operations")
struct ServiceOperationsTests {
    @Test("SIGTERM: the leader exits 0, writes go on, it restarts, and no acknowledged write is lost")
    func sigtermUnderWrites() throws {
        let cluster = try ProcessCluster(size: 3, label: "kv-sigterm")
        for id in cluster.nodes.map(\.id) { try cluster.start(id) }
        let first = try #require(cluster.waitForLeader())
        let writer = try ContinuousWriter(cluster: cluster.clusterArgument)
        #expect(writer.waitForAcknowledged(atLeast: 20))
        #expect(cluster.terminate(first) == 0, "log: \(cluster.log(first))")
        #expect(cluster.log(first).contains("node \(first) stopped"))
        _ = try #require(cluster.waitForLeader(excluding: [first]))
        let beforeRestart = writer.acknowledgedCount
        #expect(writer.waitForAcknowledged(atLeast: beforeRestart + 20), "writes go on with two of three nodes")
        try cluster.start(first)
        let afterRestart = writer.acknowledgedCount
        #expect(writer.waitForAcknowledged(atLeast: afterRestart + 20))
        let (acknowledged, _) = writer.stop()
        try cluster.checkEveryNode(acknowledged)
    }

    @Test("SIGTERM with a write waiting for a lost quorum: the stop path answers it 503 with reason stopping, the node exits 0")
    func sigtermWithAWriteInFlight() throws {
        // An election timeout long enough that the leader, cut off from its
        // followers, does not step down (a 503 of its own) before the SIGTERM.
        let cluster = try ProcessCluster(size: 3, label: "kv-sigterm-inflight", extraArguments: [
            "--election-timeout-ms", "6000", "--heartbeat-ms", "50", "--request-timeout-ms", "120000", "--segment-mib", "1",
        ])
        for id in cluster.nodes.map(\.id) { try cluster.start(id) }
        let leader = try #require(cluster.waitForLeader())
        for id in cluster.running where id != leader { cluster.kill(id) }
        let answer = LockedValue<HTTPResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        let address = cluster.http(leader)
        Thread {
            let response = try? HTTPClient.request("PUT", address, path: "/kv/pending", body: Array("x".utf8), timeoutMilliseconds: 300_000)
            answer.withLock { $0 = response }
            done.signal()
        }.start()
        _ = cluster.waitUntil("the write to wait for raft") { statuses in (statuses[leader]?["requestsWaiting"] as? Int ?? 0) >= 1 }
        #expect(answer.withLock { $0 } == nil, "the write was answered before the stop: \(String(describing: answer.withLock { $0 }?.text))")
        #expect(cluster.terminate(leader) == 0, "log: \(cluster.log(leader))")
        done.wait()
        let response = try #require(answer.withLock { $0 }, "the write got no answer")
        let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        #expect(response.status == 503 && body?["error"] is String, "\(response.status) \(response.text)")
        #expect(body?["reason"] as? String == "stopping", "the 503 came from the stop path: \(response.text)")
    }

    @Test("one connection carries many requests; Connection: close ends it")
    func keepAlive() throws {
        let cluster = try ProcessCluster(size: 1, label: "kv-keepalive")
        try cluster.start(1)
        _ = try #require(cluster.waitForLeader())
        let connection = try HTTPConnection(cluster.http(1))
        for i in 0..<50 {
            let put = try connection.request("PUT", path: "/kv/key\(i)", body: Array("value\(i)".utf8))
            #expect(put.status == 200, "\(put.text)")
            #expect(put.header("Connection") == "keep-alive")
            let get = try connection.request("GET", path: "/kv/key\(i)")
            #expect(get.status == 200 && get.text == "value\(i)")
        }
        #expect(connection.isOpen)
        let missing = try connection.request("GET", path: "/nowhere")
        #expect(missing.status == 404 && connection.isOpen, "an error answer keeps the connection too")
        let last = try connection.request("GET", path: "/status", keepAlive: false)
        #expect(last.status == 200 && last.header("Connection") == "close")
        #expect(!connection.isOpen)
    }
}
