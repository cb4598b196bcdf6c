import Foundation
import TestSupport
import Testing

/// Whether a FUSE file system can be mounted here: bindfs installed, the
/// FUSE device present, and a private mount namespace allowed.
let canMountFUSE: Bool = {
    guard canUnshareMounts, FileManager.default.fileExists(atPath: "/dev/fuse") else { return false }
    return (try? CLI.which("bindfs")) != nil
}()

/// The journal on a real FUSE file system (bindfs, in a private mount
/// namespace): `auto` takes the thread backend with an fdatasync after each
/// write and says so; `--io-backend io-uring` is refused with exit 78. The
/// library tests check the same rule with a faked file-system type.
@Suite struct FUSETests {
    @Test(.enabled(if: canMountFUSE, "needs bindfs, /dev/fuse and a private mount namespace (CAP_SYS_ADMIN)"))
    func fuseGetsTheThreadBackendWithAnExplicitSync() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let exe = try #require(CLI.executable)
        try FileManager.default.createDirectory(atPath: scratch.path("source"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch.path("fuse"), withIntermediateDirectories: true)
        // Each step's output on its own line, tagged, so one run checks all.
        let script = """
            bindfs "$1/source" "$1/fuse" || exit 99
            j="$1/fuse/journal"
            "$2" create --journal "$j" --segment-bytes 1M --record-bytes-max 64K > /dev/null; echo "create $?"
            printf 'a\\nb\\nc\\n' | "$2" append --journal "$j" | tr '\\n' ' '; echo "append"
            "$2" inspect --journal "$j" | grep '^I/O backend'
            echo x | "$2" append --journal "$j" --io-backend io-uring 2>&1; echo "required $?"
            "$2" replay --journal "$j" | tr '\\t\\n' ': '; echo "replay"
            umount "$1/fuse"
            """
        let r = try CLI.runProgram("unshare", ["-m", "--", "sh", "-c", script, "sh", scratch.root, exe])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.lines
        #expect(lines.contains("create 0"), "\(r.stdoutText)")
        #expect(lines.contains("1 2 3 append"), "\(r.stdoutText)")
        #expect(lines.contains { $0.hasPrefix("I/O backend") && $0.contains("threads") && $0.contains("FUSE") && $0.contains("fdatasync") }, "\(r.stdoutText)")
        #expect(lines.contains { $0.contains("io_uring cannot be used on the FUSE file system") }, "\(r.stdoutText)")
        #expect(lines.contains("required 78"), "\(r.stdoutText)")
        #expect(lines.contains("1:a 2:b 3:c replay"), "\(r.stdoutText)")
    }
}
