import Foundation
import Glibc
import ReplicatedKV
import Testing
import TestSupport

/// A full disk on one node of three, with real processes: node 3's store is
/// a small tmpfs mount that the test fills. The node must stop (exit 74,
/// one line naming the failure) while the other two go on serving; once
/// space is freed and it restarts, it catches up with nothing lost.
/// Mounting needs root, as the project's test runs have.
@Suite("Replicated key-value service: a full disk")
struct FullDiskTests {
    @Test("node 3's disk fills: it stops with exit 74, the majority serves on, and after space is freed it catches up")
    func oneNodeRunsOutOfSpace() throws {
        let cluster = try ProcessCluster(size: 3, label: "kv-full-disk")
        let mount = try SmallMount(at: cluster.store(3), mebibytes: 32)
        defer {
            cluster.kill(3)
            mount.unmount()
        }
        cluster.nodeArguments[3] = ["--no-direct"]
        for id: UInt64 in 1...3 { try cluster.start(id) }
        _ = try #require(cluster.waitForLeader())
        let writer = try ContinuousWriter(cluster: cluster.clusterArgument)
        #expect(writer.waitForAcknowledged(atLeast: 20))

        let filler = mount.fill()
        let status = try #require(cluster.waitForExit(3), "node 3 kept running on a full disk")
        #expect(status == 74, "log: \(cluster.log(3))")
        #expect(cluster.log(3).contains("space"), "the node names the full disk: \(cluster.log(3))")
        let withTwo = writer.acknowledgedCount
        #expect(writer.waitForAcknowledged(atLeast: withTwo + 30), "the two other nodes serve on")

        #expect(unlink(filler) == 0)
        try cluster.start(3)
        let afterRestart = writer.acknowledgedCount
        #expect(writer.waitForAcknowledged(atLeast: afterRestart + 20))
        let (acknowledged, _) = writer.stop()
        try cluster.checkEveryNode(acknowledged)
    }
}

/// A tmpfs of a given size mounted on a directory, unmounted by `unmount`.
final class SmallMount {
    let path: String

    init(at path: String, mebibytes: Int) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(mebibytes)m") == 0 else {
            Issue.record("cannot mount a tmpfs on \(path) (errno \(errno)): this test needs root")
            throw POSIXError(.EPERM)
        }
    }

    /// Writes a file until the file system is full; returns its path.
    func fill() -> String {
        let file = path + "/filler"
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0xA5, count: 65536)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        return file
    }

    func unmount() { _ = umount2(path, Int32(MNT_DETACH)) }
}
