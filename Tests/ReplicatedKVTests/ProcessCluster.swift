import Foundation
import Glibc
import ReplicatedKV
import Testing
import TestSupport

/// Three (or more) `journalctl-swift kv serve` processes on loopback, each
/// with its own store directory under one temporary directory. Tests wait
/// on what the nodes report (`GET /status`), never on time.
final class ProcessCluster {
    struct Node {
        var id: UInt64
        var raftPort: Int
        var httpPort: Int
        var process: Process?
    }

    let directory: TemporaryDirectory
    var nodes: [Node]
    /// Holds the nodes' ports for the cluster's lifetime (the nodes bind
    /// them with --reuse-port), so no other process takes one between a
    /// node's kill and its restart.
    let ports: PortReservation
    let extraArguments: [String]
    /// Arguments for one node only.
    var nodeArguments: [UInt64: [String]] = [:]
    /// Nodes 1...bootstrapSize form the cluster; later ones join it.
    let bootstrapSize: Int
    /// Later nodes started without --join (they joined at an earlier start).
    var withoutJoin: Set<UInt64> = []

    init(size: Int, bootstrapSize: Int? = nil, label: String, extraArguments: [String] = ["--election-timeout-ms", "300", "--heartbeat-ms", "50", "--request-timeout-ms", "1500", "--segment-mib", "1",
        "--snapshot-threshold", "16", "--snapshot-trailing", "4"]) throws {
        directory = TemporaryDirectory(on: .tmp, label)
        let ports = try PortReservation(count: 2 * size)
        self.ports = ports
        nodes = (0..<size).map { Node(id: UInt64($0 + 1), raftPort: ports.ports[2 * $0], httpPort: ports.ports[2 * $0 + 1]) }
        self.extraArguments = extraArguments
        self.bootstrapSize = bootstrapSize ?? size
    }

    deinit {
        for node in nodes { node.process.map { Glibc.kill($0.processIdentifier, SIGKILL); $0.waitUntilExit() } }
    }

    var peers: String { nodes.prefix(bootstrapSize).map { "\($0.id)=127.0.0.1:\($0.raftPort)/\($0.httpPort)" }.joined(separator: ",") }
    var clusterArgument: String { nodes.map { "127.0.0.1:\($0.httpPort)" }.joined(separator: ",") }
    func http(_ id: UInt64) -> HostPort { HostPort(host: "127.0.0.1", port: nodes[Int(id) - 1].httpPort) }
    func store(_ id: UInt64) -> String { "\(directory.path)/node\(id)" }

    /// Starts node `id` (again); its output goes to files in its directory.
    func start(_ id: UInt64) throws {
        guard let executable = Executable.journalctl else {
            Issue.record("journalctl-swift not found next to the test bundle")
            throw POSIXError(.ENOENT)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["kv", "serve", "--store", store(id), "--id", "\(id)", "--reuse-port"] + membershipArguments(id) + extraArguments + nodeArguments[id, default: []]
        let log = "\(directory.path)/node\(id).log"
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        nodes[Int(id) - 1].process = process
    }

    /// A bootstrap node's --peers; a later node's own entry and --join.
    func membershipArguments(_ id: UInt64) -> [String] {
        guard Int(id) > bootstrapSize else { return ["--peers", peers] }
        if withoutJoin.contains(id) { return ["--peers", entry(id)] }
        let join = nodes.prefix(bootstrapSize).map { "127.0.0.1:\($0.httpPort)" }.joined(separator: ",")
        return ["--peers", entry(id), "--join", join]
    }

    /// Node `id`'s peers entry.
    func entry(_ id: UInt64) -> String {
        let node = nodes[Int(id) - 1]
        return "\(id)=127.0.0.1:\(node.raftPort)/\(node.httpPort)"
    }

    /// SIGKILLs node `id` and reaps it.
    func kill(_ id: UInt64) {
        guard let process = nodes[Int(id) - 1].process else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        nodes[Int(id) - 1].process = nil
    }

    /// SIGTERMs node `id` and waits for it to exit; returns its exit status.
    func terminate(_ id: UInt64) -> Int32 {
        guard let process = nodes[Int(id) - 1].process else { return -1 }
        Glibc.kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        nodes[Int(id) - 1].process = nil
        return process.terminationStatus
    }

    /// Waits (at most `limitSeconds`) for node `id` to exit by itself;
    /// returns its exit status, or nil if it still runs.
    func waitForExit(_ id: UInt64, limitSeconds: Double = 120) -> Int32? {
        guard let process = nodes[Int(id) - 1].process else { return nil }
        let start = nowSeconds()
        while process.isRunning {
            if nowSeconds() - start > limitSeconds { return nil }
            usleep(20_000)
        }
        nodes[Int(id) - 1].process = nil
        return process.terminationStatus
    }

    var running: [UInt64] { nodes.filter { $0.process != nil }.map(\.id) }

    /// Node `id`'s status, or nil when it does not answer.
    func status(_ id: UInt64) -> [String: Any]? {
        guard let response = try? HTTPClient.request("GET", http(id), path: "/status", timeoutMilliseconds: 2000),
              response.status == 200 else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
    }

    func log(_ id: UInt64) -> String { (try? String(contentsOfFile: "\(directory.path)/node\(id).log", encoding: .utf8)) ?? "" }

    /// Polls the running nodes until `accept` holds of their statuses; fails
    /// the test (with the nodes' logs) after `limitSeconds`, a bound far
    /// above anything a working cluster needs, so the test cannot hang.
    func waitUntil(_ what: String, limitSeconds: Double = 120, _ accept: ([UInt64: [String: Any]]) -> Bool) -> Bool {
        let start = nowSeconds()
        while nowSeconds() - start < limitSeconds {
            var statuses: [UInt64: [String: Any]] = [:]
            for id in running { statuses[id] = status(id) }
            if accept(statuses) { return true }
            usleep(20_000)
        }
        let logs = running.map { "node \($0): \(log($0))" }.joined(separator: "\n")
        Issue.record("timed out waiting for \(what); logs:\n\(logs)")
        return false
    }

    /// Waits for a running node other than `excluded` to report itself
    /// leader, and returns its id.
    func waitForLeader(excluding excluded: Set<UInt64> = []) -> UInt64? {
        var leader: UInt64?
        _ = waitUntil("a leader") { statuses in
            leader = statuses.first { id, s in !excluded.contains(id) && s["state"] as? String == "leader" }?.key
            return leader != nil
        }
        return leader
    }
}

extension ProcessCluster {
    /// Starts every node; returns the leader they elect.
    func startAll() throws -> UInt64 {
        for id in nodes.map(\.id) { try start(id) }
        return try #require(waitForLeader())
    }

    /// Waits until every node applied the leader's commit index, then reads
    /// each acknowledged write from each node's state and through the cluster.
    func checkEveryNode(_ acknowledged: [Int]) throws {
        let leader = try #require(waitForLeader())
        let commit = try #require(status(leader)?["commitIndex"] as? Int)
        let count = running.count
        #expect(waitUntil("every node to apply index \(commit)") { statuses in
            statuses.count == count && statuses.values.allSatisfy { ($0["lastApplied"] as? Int ?? 0) >= commit }
        })
        for id in running {
            var missing: [Int] = []
            let connection = try HTTPConnection(http(id))
            for i in acknowledged {
                let response = try connection.request("GET", path: "/kv/k\(i)?local")
                if response.status != 200 || response.text != "v\(i)" { missing.append(i) }
            }
            #expect(missing.isEmpty, "node \(id) lacks acknowledged writes \(missing.prefix(20))")
        }
        let client = KVClusterClient(endpoints: try KVClusterClient.endpoints(parsing: clusterArgument))
        for i in acknowledged.suffix(50) {
            #expect(try client.get(Array("k\(i)".utf8)) == Array("v\(i)".utf8))
        }
    }
}

func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
