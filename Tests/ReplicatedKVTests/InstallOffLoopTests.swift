import Dispatch
import Foundation
@testable import ReplicatedKV
import TestSupport
import Testing

/// A follower installs a snapshot from the leader off its event loop: with
/// the install held open (a hook run where the install runs), the node
/// still answers requests and follows the leader's heartbeats.
@Suite("Replicated key-value service: snapshot install off the loop")
struct InstallOffLoopTests {
    @Test("while a follower's install is held open its loop answers /status and knows the leader; once released it serves the installed state")
    func installDoesNotBlockTheLoop() throws {
        let cluster = try InProcessCluster(label: "kv-install-off-loop")
        for id: UInt64 in 1...2 { try cluster.start(cluster.options(id)) }
        let client = cluster.client([1, 2])
        for i in 0..<60 { _ = try client.put(Array("k\(i)".utf8), Array("v\(i)".utf8)) }

        // Node 3 starts behind a snapshot of the others: it must install.
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        var third = try cluster.options(3)
        third.installHook = {
            entered.signal()
            release.wait()
        }
        try cluster.start(third)
        // Whatever happens below, the install is released before the nodes stop.
        defer { release.signal() }
        #expect(entered.wait(timeout: .now() + 120) == .success, "node 3 never started an install")
        // Held open: the loop still answers, and knows the leader from the
        // heartbeats it handles meanwhile.
        var answered = 0
        for _ in 0..<5 {
            let status = try? cluster.status(3)
            #expect([1, 2].contains(status?["leader"] as? Int), "\(String(describing: status))")
            #expect(status?["snapshotsRestored"] as? Int == 0)
            if status != nil { answered += 1 }
        }
        #expect(answered == 5, "node 3's loop answered \(answered) of 5 status requests during the install")
        release.signal()

        #expect(InProcessCluster.waitUntil { cluster.leader != nil })
        let leader = try #require(cluster.leader)
        let commit = try #require(try cluster.status(leader)?["commitIndex"] as? Int)
        #expect(InProcessCluster.waitUntil {
            guard let status = try? cluster.status(3) else { return false }
            return (status["lastApplied"] as? Int ?? 0) >= commit && (status["snapshotsRestored"] as? Int ?? 0) >= 1
        })
        let connection = try HTTPConnection(cluster.http(3))
        for i in 0..<60 {
            let response = try connection.request("GET", path: "/kv/k\(i)?local")
            #expect(response.status == 200 && response.text == "v\(i)", "k\(i): \(response.status) \(response.text)")
        }
        #expect(cluster.fatal.get().isEmpty)
    }
}
