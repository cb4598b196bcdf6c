import Foundation
import Glibc
import JournalPrimitives
@testable import ReplicatedKV
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

    @Test("stopping with a write waiting for raft: the stop path answers it 503 with reason stopping")
    func stopWithAWriteInFlight() throws {
        // One node (it cannot lose its leadership) whose writes wait in its
        // batcher for good: the only answer the write can get is the stop
        // path's. `kv serve` runs this same `stop` on SIGTERM.
        let directory = TemporaryDirectory(on: .tmp, "kv-stop-inflight")
        let reservation = try PortReservation(count: 2)
        let (raftPort, httpPort) = (reservation.ports[0], reservation.ports[1])
        var options = try KVServiceOptions(
            storePath: "\(directory.path)/node1", id: 1, peers: try ClusterPeers(parsing: "1=127.0.0.1:\(raftPort)/\(httpPort)"))
        options.reusePort = true
        options.holdsWrites = true
        options.requestTimeoutMilliseconds = 600_000
        let service = try KVService.start(options, onFatal: { _ in })
        let address = HostPort(host: "127.0.0.1", port: httpPort)
        #expect(pollStatus(address) { $0["state"] as? String == "leader" }, "a lone voter leads")
        let answer = LockedValue<HTTPResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let response = try? HTTPClient.request("PUT", address, path: "/kv/pending", body: Array("x".utf8), timeoutMilliseconds: 600_000)
            answer.withLock { $0 = response }
            done.signal()
        }.start()
        #expect(pollStatus(address) { ($0["requestsWaiting"] as? Int ?? 0) >= 1 }, "the write waits for raft")
        #expect(answer.withLock { $0 } == nil, "the write was answered before the stop: \(String(describing: answer.withLock { $0 }?.text))")
        service.stop(graceMilliseconds: 50)
        done.wait()
        let response = try #require(answer.withLock { $0 }, "the write got no answer")
        let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        #expect(response.status == 503 && body?["error"] is String, "\(response.status) \(response.text)")
        #expect(body?["reason"] as? String == "stopping", "the 503 came from the stop path: \(response.text)")
    }

    /// Polls `GET /status` at `address` until `accept` takes it (false
    /// after 120 s: a bound against hanging, not a verdict on speed).
    func pollStatus(_ address: HostPort, _ accept: ([String: Any]) -> Bool) -> Bool {
        let start = nowSeconds()
        while nowSeconds() - start < 120 {
            if let response = try? HTTPClient.request("GET", address, path: "/status"),
               let status = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any], accept(status) {
                return true
            }
            usleep(10_000)
        }
        return false
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
