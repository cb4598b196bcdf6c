import Foundation
import Glibc
import JournalCLISupport
import ReplicatedKV

/// `kv serve` processes on loopback, spawned from this executable, for
/// `kv bench`: ports chosen by the kernel and held by a `PortReservation`
/// (the nodes bind them with --reuse-port), stores under one directory.
final class LocalCluster {
    struct Member {
        var id: UInt64
        var raftPort: Int
        var httpPort: Int
        var process: Process?
    }

    let directory: String
    let serveArguments: [String]
    var members: [Member]
    let ports: PortReservation

    init(size: Int, directory: String, serveArguments: [String]) throws(CLIError) {
        self.directory = directory
        self.serveArguments = serveArguments
        let reserved: [Int]
        do { ports = try PortReservation(count: 2 * size) } catch { throw CLIError(.unavailable, "\(error)") }
        reserved = ports.ports
        members = (0..<size).map { Member(id: UInt64($0 + 1), raftPort: reserved[2 * $0], httpPort: reserved[2 * $0 + 1]) }
    }

    var peers: String { members.map { "\($0.id)=127.0.0.1:\($0.raftPort)/\($0.httpPort)" }.joined(separator: ",") }
    var endpoints: [HostPort] { members.map { HostPort(host: "127.0.0.1", port: $0.httpPort) } }
    func http(_ id: UInt64) -> HostPort { endpoints[Int(id) - 1] }

    func start(_ id: UInt64) throws(CLIError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["kv", "serve", "--store", "\(directory)/node\(id)", "--id", "\(id)", "--peers", peers, "--reuse-port"] + serveArguments
        let log = "\(directory)/node\(id).log"
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        } catch {
            throw CLIError(.ioError, "cannot start kv serve: \(error)")
        }
        members[Int(id) - 1].process = process
    }

    func kill(_ id: UInt64) {
        guard let process = members[Int(id) - 1].process else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        members[Int(id) - 1].process = nil
    }

    func stopAll() { for m in members { kill(m.id) } }

    func status(_ id: UInt64) -> [String: Any]? {
        guard let r = try? HTTPClient.request("GET", http(id), path: "/status", timeoutMilliseconds: 2000), r.status == 200 else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
    }

    /// Polls the running members until `accept` holds (at most 120 s).
    func waitUntil(_ what: String, _ accept: ([UInt64: [String: Any]]) -> Bool) throws(CLIError) {
        let start = monotonicSeconds()
        while monotonicSeconds() - start < 120 {
            var statuses: [UInt64: [String: Any]] = [:]
            for m in members where m.process != nil { statuses[m.id] = status(m.id) }
            if accept(statuses) { return }
            usleep(5_000)
        }
        throw CLIError(.unavailable, "the cluster in \(directory) did not reach: \(what)")
    }

    func leader() throws(CLIError) -> UInt64 {
        var leader: UInt64 = 0
        try waitUntil("a leader") { statuses in
            leader = statuses.first { $0.value["state"] as? String == "leader" }?.key ?? 0
            return leader != 0
        }
        return leader
    }

    /// Waits until every member applied what the leader has committed.
    func caughtUp() throws(CLIError) {
        let leader = try leader()
        let commit = status(leader)?["commitIndex"] as? Int ?? 0
        try waitUntil("every member at index \(commit)") { statuses in
            statuses.count == members.count && statuses.values.allSatisfy { ($0["lastApplied"] as? Int ?? 0) >= commit }
        }
    }
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
