import Foundation
import TestSupport
import Testing

/// The CLI on a host that denies io_uring: `journalctl-swift` run under a
/// seccomp filter (`seccomp-deny-io-uring`) that makes `io_uring_setup`,
/// `io_uring_enter` and `io_uring_register` fail with EPERM, as the default
/// profiles of Docker and containerd do. Every command works on the thread
/// backend; `--io-backend io-uring` fails with one line and exit 78.
@Suite struct SeccompDenialTests {
    static func denied() throws -> [String] {
        guard let helper = Executable.denyIOUring else {
            Issue.record("seccomp-deny-io-uring not found beside journalctl-swift; build it (swift build)")
            throw HarnessError.missingExecutable
        }
        return [helper]
    }

    @Test(arguments: fileSystems)
    func theJournalCommandsWorkWithoutIOUring(base: String) throws {
        let scratch = try Scratch(base: base)
        defer { scratch.remove() }
        let deny = try Self.denied()
        let j = ["--journal", scratch.path("journal")]
        let create = try CLI.run(["create"] + j + ["--segment-bytes", "64K", "--record-bytes-max", "16K"], prefix: deny)
        #expect(create.status == 0, "\(create.stderr)")
        let lines = (0..<500).map { "record \($0) " + String(repeating: "y", count: $0 % 300) }
        let append = try CLI.run(["append"] + j, stdin: CLI.lines(lines), prefix: deny)
        #expect(append.status == 0, "\(append.stderr)")
        #expect(append.lines == (1...500).map { "\($0)" }, "every record acknowledged, in order")
        let replay = try CLI.run(["replay", "--from", "1"] + j, prefix: deny)
        #expect(replay.status == 0, "\(replay.stderr)")
        let expected = lines.enumerated().map { "\($0.offset + 1)\t\($0.element)" }
        #expect(replay.lines.count == expected.count)
        #expect(zip(replay.lines, expected).first { $0 != $1 } == nil, "replay gives back every record")
        let verify = try CLI.run(["verify"] + j, prefix: deny)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdoutText.hasPrefix("verified 500 records"))
        let inspect = try CLI.run(["inspect"] + j, prefix: deny)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let backendLine = inspect.lines.first { $0.hasPrefix("I/O backend") } ?? ""
        #expect(backendLine.contains("threads") && backendLine.contains("io_uring_setup failed") && backendLine.contains("errno 1"), "\(backendLine)")
        let demo = try CLI.run(["demo", "--records", "300", "--appenders", "4"] + j, prefix: deny)
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(demo.lines.contains { $0.hasPrefix("backend") && $0.contains("threads") }, "\(demo.stdoutText)")
        #expect(demo.lines.contains { $0.hasPrefix("replay") && $0.hasSuffix("OK") })
    }

    @Test func theKeyValueStoreWorksWithoutIOUring() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let deny = try Self.denied()
        let s = ["--store", scratch.path("kv")]
        for i in 0..<10 {
            let put = try CLI.run(["kv", "put"] + s + ["key\(i)", "value \(i)"], prefix: deny)
            #expect(put.status == 0, "\(put.stderr)")
        }
        for i in [0, 7, 9] {
            let get = try CLI.run(["kv", "get"] + s + ["key\(i)"], prefix: deny)
            #expect(get.status == 0 && get.lines == ["value \(i)"], "\(get.stderr)")
        }
        let required = try CLI.run(["kv", "get"] + s + ["--io-backend", "io-uring", "key1"], prefix: deny)
        #expect(required.status == 78)
        #expect(required.errorLine.contains("io_uring is unavailable"), "\(required.stderr)")
    }

    /// Requiring io_uring where it is denied: one line on stderr, exit 78
    /// (configuration), for a writer and a reader alike.
    @Test func requiringIOUringFailsWithOneLine() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let deny = try Self.denied()
        let j = ["--journal", scratch.path("journal")]
        #expect(try CLI.run(["create"] + j, prefix: deny).status == 0)
        for arguments in [["append"], ["replay"], ["create"]] {
            let run = try CLI.run(arguments + j + ["--io-backend", "io-uring"], stdin: CLI.lines(["x"]), prefix: deny)
            #expect(run.status == 78, "\(arguments): \(run.stderr)")
            #expect(run.errorLine == "journalctl-swift: io_uring is unavailable: io_uring_setup failed with Operation not permitted (errno 1), as under a container's seccomp profile (use --io-backend threads or auto)")
        }
        // Nothing was appended by the refused writer.
        let verify = try CLI.run(["verify"] + j, prefix: deny)
        #expect(verify.status == 0 && verify.stdoutText.hasPrefix("verified 0 records"), "\(verify.stdoutText) \(verify.stderr)")
    }

    /// `SWIFT_JOURNAL_IO_BACKEND=threads` makes `auto` mean threads (for
    /// applications that do not expose the option); an explicit choice wins.
    @Test func theEnvironmentPicksTheMeaningOfAuto() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let j = ["--journal", scratch.path("journal")]
        #expect(try CLI.run(["create"] + j).status == 0)
        let inspect = try CLI.run(["inspect"] + j, environment: ["SWIFT_JOURNAL_IO_BACKEND": "threads"])
        #expect(inspect.lines.contains("I/O backend    threads for writes (set by SWIFT_JOURNAL_IO_BACKEND)"), "\(inspect.stdoutText)")
    }
}
