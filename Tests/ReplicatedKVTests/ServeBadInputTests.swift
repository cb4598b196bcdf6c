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

    @Test("a store bootstrapped for another cluster is refused with exit 78; the cluster CLI puts and gets")
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
        cluster.kill(1)

        let other = "1=127.0.0.1:\(cluster.nodes[0].raftPort + 1)/\(cluster.nodes[0].httpPort)"
        let refused = try Self.run(["kv", "serve", "--store", cluster.store(1), "--id", "1", "--peers", other], in: cluster.directory)
        #expect(refused.status == 78)
        #expect(refused.stderr.contains("belongs to another cluster"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)
    }

    @Test("a cluster that does not answer: exit 69")
    func unavailable() throws {
        let directory = TemporaryDirectory(on: .tmp, "kv-unavailable")
        let port = try ProcessCluster.freePorts(1)[0]
        let result = try Self.run(["kv", "get", "--cluster", "127.0.0.1:\(port)", "--cluster-timeout-ms", "300", "k"], in: directory)
        #expect(result.status == 69, "\(result.stderr)")
    }
}
