import Foundation
import Glibc
import ReplicatedKV
import TestSupport

/// A client thread that writes `k<i>` = `v<i>` for i = 0, 1, 2, ... through
/// a cluster client until stopped, and keeps the i of every write the
/// cluster acknowledged.
final class ContinuousWriter: @unchecked Sendable {
    private let lock = NSLock()
    private var acknowledged: [Int] = []
    private var failures = 0
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    init(cluster: String) throws {
        let endpoints = try KVClusterClient.endpoints(parsing: cluster)
        let thread = Thread { [self] in
            let client = KVClusterClient(endpoints: endpoints, deadlineMilliseconds: 20_000)
            var i = 0
            while !lock.withLock({ stopping }) {
                do {
                    try client.put(Array("k\(i)".utf8), Array("v\(i)".utf8))
                    lock.withLock { acknowledged.append(i) }
                } catch {
                    lock.withLock { failures += 1 }
                }
                i += 1
            }
            done.signal()
        }
        self.thread = thread
        thread.start()
    }

    var acknowledgedCount: Int { lock.withLock { acknowledged.count } }

    /// Blocks until `count` writes are acknowledged in all (polling the count).
    func waitForAcknowledged(atLeast count: Int, limitSeconds: Double = 120) -> Bool {
        let start = nowSeconds()
        while acknowledgedCount < count {
            if nowSeconds() - start > limitSeconds { return false }
            usleep(10_000)
        }
        return true
    }

    /// Stops the thread once its write in flight ends; returns the
    /// acknowledged indexes and the count of failed writes.
    func stop() -> (acknowledged: [Int], failures: Int) {
        lock.withLock { stopping = true }
        done.wait()
        return lock.withLock { (acknowledged, failures) }
    }
}
