import Foundation
import Glibc
import ReplicatedKV
import Testing
import TestSupport

/// `kv serve` and `kv --cluster` refuse bad input with one line and the
/// documented exit code.
@Suite("Replicated key-value service: bad input")
struct ServeBadInputTests {
    /// Runs the CLI to its end; stdout and stderr go through files.
    static func run(_ arguments: [String], in directory: TemporaryDirectory) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Executable.journalctl))
        process.arguments = arguments
        let out = directory.path + "/cli.out", err = directory.path + "/cli.err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        let text = { (p: String) in (try? String(contentsOfFile: p, encoding: .utf8)) ?? "" }
        return (process.terminationStatus, text(out), text(err))
    }

    @Test("a wrong id or a malformed peers list: exit 64, one line", arguments: [
        (["--id", "4", "--peers", "1=127.0.0.1:1/2,2=127.0.0.1:3/4"], "not in the peers list"),
        (["--id", "1", "--peers", "1=127.0.0.1:1"], "malformed peers"),
        (["--id", "1", "--peers", "1=127.0.0.1:1/2,1=127.0.0.1:3/4"], "appears twice"),
        (["--id", "1", "--peers", "x=127.0.0.1:1/2"], "malformed peers"),
    ])
    func badArguments(arguments: [String], message: String) throws {
        let directory = TemporaryDirectory(on: .tmp, "kv-bad")
        let result = try Self.run(["kv", "serve", "--store", directory.path + "/store"] + arguments, in: directory)
        #expect(result.status == 64)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("the cluster CLI puts and gets; a store of another cluster is refused (exit 78), a damaged one too (exit 65)")
    func otherCluster() throws {
        let cluster = try ProcessCluster(size: 1, label: "kv-identity")
        try cluster.start(1)
        _ = try #require(cluster.waitForLeader())
        let put = try Self.run(["kv", "put", "--cluster", cluster.clusterArgument, "greeting", "hello"], in: cluster.directory)
        #expect(put.status == 0, "\(put.stderr)")
        let get = try Self.run(["kv", "get", "--cluster", cluster.clusterArgument, "greeting"], in: cluster.directory)
        #expect(get.status == 0 && get.stdout == "hello\n", "\(get.stderr)")
        let absent = try Self.run(["kv", "get", "--cluster", cluster.clusterArgument, "absent"], in: cluster.directory)
        #expect(absent.status == 66)
        try Self.sendGarbage(to: cluster.nodes[0].raftPort)
        let after = try Self.run(["kv", "get", "--cluster", cluster.clusterArgument, "greeting"], in: cluster.directory)
        #expect(after.status == 0 && after.stdout == "hello\n", "the node serves on after garbage on its raft port: \(after.stderr)")
        cluster.kill(1)

        let other = "1=127.0.0.1:\(cluster.nodes[0].raftPort + 1)/\(cluster.nodes[0].httpPort)"
        let refused = try Self.run(["kv", "serve", "--store", cluster.store(1), "--id", "1", "--peers", other], in: cluster.directory)
        #expect(refused.status == 78)
        #expect(refused.stderr.contains("belongs to another cluster"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)

        // A raft log whose first segment lost its tail: damaged, not torn.
        #expect(truncate(cluster.store(1) + "/raft/0000000000000001.seg", 100_000) == 0)
        let damaged = try Self.run(["kv", "serve", "--store", cluster.store(1), "--id", "1", "--peers", cluster.peers], in: cluster.directory)
        #expect(damaged.status == 65)
        #expect(damaged.stderr.contains("refusing to rejoin"), "\(damaged.stderr)")
    }

    /// Connects to a raft port and writes a frame whose checksum fails,
    /// then one claiming 4 GiB; the node must close the connection.
    static func sendGarbage(to port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        try #require(connected)
        let garbage: [UInt8] = [4, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9] + [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]
        _ = garbage.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var byte: UInt8 = 0
        #expect(recv(fd, &byte, 1, 0) <= 0, "the node closes a connection whose frame fails its checks")
    }

    @Test("a cluster that does not answer: exit 69")
    func unavailable() throws {
        let directory = TemporaryDirectory(on: .tmp, "kv-unavailable")
        let reservation = try PortReservation(count: 1)
        let result = try Self.run(["kv", "get", "--cluster", "127.0.0.1:\(reservation.ports[0])", "--cluster-timeout-ms", "300", "k"], in: directory)
        #expect(result.status == 69, "\(result.stderr)")
    }
}
