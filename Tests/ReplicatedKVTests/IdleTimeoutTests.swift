import Foundation
import Glibc
import JournalPrimitives
import ReplicatedKV
import Testing
import TestSupport

/// `kv serve --idle-timeout-ms`: a kept-alive connection that receives
/// nothing for that long is closed by the node, unless a request of it
/// waits for an answer.
@Suite("Replicated key-value service: idle connections")
struct IdleTimeoutTests {
    @Test("an idle kept-alive connection is closed by the node; one whose write waits for the cluster gets its answer")
    func idleClosedWaitingKept() throws {
        // A leader that does not step down at once when its followers go
        // (long election timeout), and writes that wait 3 s for them.
        let cluster = try ProcessCluster(size: 3, label: "kv-idle", extraArguments: [
            "--election-timeout-ms", "6000", "--heartbeat-ms", "50", "--request-timeout-ms", "3000", "--segment-mib", "1",
            "--idle-timeout-ms", "500",
        ])
        for id in cluster.nodes.map(\.id) { try cluster.start(id) }
        let leader = try #require(cluster.waitForLeader())
        for id in cluster.running where id != leader { cluster.kill(id) }

        let address = cluster.http(leader)
        let answer = LockedValue<Result<HTTPResponse, KVClientError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let result = Result { () throws(KVClientError) -> HTTPResponse in
                try HTTPConnection(address, timeoutMilliseconds: 120_000).request("PUT", path: "/kv/waiting", body: Array("x".utf8))
            }
            answer.withLock { $0 = result }
            done.signal()
        }.start()
        _ = cluster.waitUntil("the write to wait for raft") { statuses in (statuses[leader]?["requestsWaiting"] as? Int ?? 0) >= 1 }

        // Opened after the write started waiting: it is closed after the
        // idle timeout, by which time the waiting connection has received
        // nothing for longer than that.
        let idle = try HTTPConnection(cluster.http(leader), timeoutMilliseconds: 120_000)
        let status = try idle.request("GET", path: "/status")
        #expect(status.status == 200 && status.header("Connection") == "keep-alive")
        #expect(idle.waitUntilClosedByNode(), "the node did not close an idle connection")

        done.wait()
        let response = try #require(answer.withLock { $0 })
        switch response {
        case .success(let reply):
            #expect(reply.status == 503, "the write cannot commit without its followers: \(reply.status) \(reply.text)")
        case .failure(let error):
            Issue.record("the waiting connection was closed before its answer: \(error)")
        }
    }
}
