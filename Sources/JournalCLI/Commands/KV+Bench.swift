import ArgumentParser
import Foundation
import JournalCLISupport
import ReplicatedKV

extension KV {
    /// `kv bench`: replicated durable puts on a three-node loopback cluster
    /// beside a one-node cluster (the same service, no replication), then
    /// failover times. A measurement, not a test.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure replicated puts (three nodes) beside one node, and failover after SIGKILL of the leader.",
            discussion: """
                Starts `kv serve` processes on loopback with stores under --dir. For each client \
                count, runs the one-node cluster then the three-node one for --seconds each (so \
                the ratio comes from interleaved runs), reporting acknowledged puts/s and p50/p99 \
                latency; then kills the three-node leader --kills times, timing from the kill to \
                the first acknowledged put.
                """)

        @Option(name: .long, help: ArgumentHelp("Where the nodes' stores go (created).", valueName: "dir"))
        var dir: String
        @Option(name: .long, help: "Client counts, comma-separated.") var clients: String = "1,16,64"
        @Option(name: .long, help: "Seconds per run.") var seconds: Double = 5
        @Option(name: .long, help: "Leader kills for the failover figure.") var kills: Int = 5
        @Option(name: .long, help: "Value size in bytes.") var valueBytes: Int = 100
        @Flag(name: .long, help: "Open files without O_DIRECT.") var noDirect = false

        func run() throws {
            let counts = clients.split(separator: ",").compactMap { Int($0) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }), seconds > 0, kills >= 0 else {
                throw CLIError(.usage, "--clients takes positive counts, --seconds and --kills positive")
            }
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let arguments = ["--election-timeout-ms", "300", "--heartbeat-ms", "50"] + (noDirect ? ["--no-direct"] : [])
            let single = try LocalCluster(size: 1, directory: dir + "/single", serveArguments: arguments)
            let triple = try LocalCluster(size: 3, directory: dir + "/three", serveArguments: arguments)
            for c in [single, triple] {
                try? FileManager.default.createDirectory(atPath: c.directory, withIntermediateDirectories: true)
                for m in c.members { try c.start(m.id) }
            }
            defer {
                single.stopAll()
                triple.stopAll()
            }
            _ = try single.leader()
            _ = try triple.leader()
            print("clients  nodes  puts/s    p50 ms  p99 ms  failed  ratio")
            for n in counts {
                let one = KVLoad.run(endpoints: single.endpoints, clients: n, seconds: seconds, valueBytes: valueBytes, label: "s\(n)")
                try single.caughtUp()
                let three = KVLoad.run(endpoints: triple.endpoints, clients: n, seconds: seconds, valueBytes: valueBytes, label: "t\(n)")
                try triple.caughtUp()
                print(Self.line(one, nodes: 1, ratio: nil))
                print(Self.line(three, nodes: 3, ratio: one.putsPerSecond > 0 ? three.putsPerSecond / one.putsPerSecond : nil))
            }
            try failover(triple)
        }

        static func line(_ r: KVLoadResult, nodes: Int, ratio: Double?) -> String {
            let ms = { (us: UInt64) in String(format: "%.2f", Double(us) / 1000) }
            return String(format: "%7d  %5d  %8.0f  ", r.clients, nodes, r.putsPerSecond)
                + "\(ms(r.latency(0.5)).padding(toLength: 6, withPad: " ", startingAt: 0))  \(ms(r.latency(0.99)).padding(toLength: 6, withPad: " ", startingAt: 0))  \(r.failures)"
                + (ratio.map { String(format: "      %.2f", $0) } ?? "")
        }

        /// Kills the leader, times the first acknowledged put after it,
        /// restarts the node and waits for it to catch up; `kills` times.
        func failover(_ cluster: LocalCluster) throws {
            let client = KVClusterClient(endpoints: cluster.endpoints, deadlineMilliseconds: 60_000)
            var times: [Double] = []
            for k in 0..<kills {
                try cluster.caughtUp()
                let leader = try cluster.leader()
                cluster.kill(leader)
                let t0 = Date()
                do { try client.put(Array("failover-\(k)".utf8), Array("x".utf8)) } catch { throw CLIError(.unavailable, "\(error)") }
                times.append(Date().timeIntervalSince(t0) * 1000)
                try cluster.start(leader)
            }
            guard !times.isEmpty else { return }
            let sorted = times.sorted()
            print(String(format: "failover (leader SIGKILL to first acknowledged put), %d kills: min %.0f ms, median %.0f ms, max %.0f ms",
                         times.count, sorted[0], sorted[sorted.count / 2], sorted[sorted.count - 1]))
        }
    }
}
