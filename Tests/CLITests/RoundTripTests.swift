import Foundation
import JournalPrimitives
import Testing

/// create -> append (lines, binary) -> replay (text, binary, json) ->
/// inspect -> verify -> truncate, on the disk and on tmpfs.
@Suite struct RoundTripTests {
    static let textLines: [String] = (0..<300).map { i in
        switch i % 5 {
        case 0: "record \(i)"
        case 1: ""  // an empty line is an empty record
        case 2: "unicode \(i): héllo wörld ✓ 日本"
        case 3: String(repeating: "x", count: 1 + i * 7)
        default: "spaces  and punctuation {\"json\": [\(i)]} !@#$%^&*()"
        }
    }

    static func binaryPayloads() -> [[UInt8]] {
        var rng = SplitMix64(seed: 42)
        var payloads: [[UInt8]] = [[], [0], [0x0A], [0x09, 0x5C, 0xFF, 0x00]]
        for i in 0..<96 {
            let n = i == 50 ? 40_000 : Int(rng.next() % 700)  // one record spans fragment pages
            payloads.append((0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        }
        return payloads
    }

    @Test(arguments: fileSystems)
    func roundTrip(base: String) throws {
        let scratch = try Scratch(base: base)
        defer { scratch.remove() }
        let dir = scratch.path("data/journal")  // the parent is created too
        let j = ["--journal", dir]

        let create = try CLI.run(["create"] + j + ["--segment-bytes", "64K", "--record-bytes-max", "48K"])
        #expect(create.status == 0, "\(create.stderr)")
        var st = stat()
        #expect(stat(dir, &st) == 0 && st.st_mode & 0o777 == 0o700, "the journal directory is created with mode 0700")

        // Lines: each LSN printed, in order, one per record.
        let text = try CLI.run(["append"] + j, stdin: CLI.lines(Self.textLines))
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.lines == (1...300).map { "\($0)" })

        // Binary frames.
        let payloads = Self.binaryPayloads()
        let binary = try CLI.run(["append", "--binary"] + j, stdin: CLI.frames(payloads))
        #expect(binary.status == 0, "\(binary.stderr)")
        #expect(binary.lines == (301...400).map { "\($0)" })

        // Replay as text: "<lsn>\t<payload>", nothing needing escapes in these lines.
        let replayText = try CLI.run(["replay", "--from", "1"] + j)
        #expect(replayText.status == 0, "\(replayText.stderr)")
        let textPart = Array(replayText.lines.prefix(300))
        #expect(textPart == Self.textLines.enumerated().map { "\($0.offset + 1)\t\($0.element)" })
        #expect(replayText.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).count == 401, "400 lines and the final newline")
        // The escapes of binary record 304: \t, \\, \xff, \x00.
        #expect(replayText.lines.contains("304\t\\t\\\\\\xff\\x00"))

        // Replay as binary frames from 301: exactly the payloads appended.
        let replayBinary = try CLI.run(["replay", "--binary", "--from", "301"] + j)
        #expect(replayBinary.status == 0, "\(replayBinary.stderr)")
        #expect(CLI.unframe(replayBinary.stdout) == payloads)

        // Replay as JSON: one object per line, base64 payload.
        let replayJSON = try CLI.run(["replay", "--json"] + j)
        #expect(replayJSON.status == 0, "\(replayJSON.stderr)")
        let objects = try replayJSON.lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 400)
        let expectedAll: [[UInt8]] = Self.textLines.map { Array($0.utf8) } + payloads
        for (i, object) in objects.enumerated() {
            let lsn = object?["lsn"] as? Int
            let bytes = object?["bytes"] as? Int
            let decoded = (object?["payload_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
            #expect(lsn == i + 1 && bytes == expectedAll[i].count && decoded == expectedAll[i], "JSON line \(i + 1)")
        }

        // Inspect: text and JSON agree with what was appended.
        let inspect = try CLI.run(["inspect"] + j)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdoutText.contains("oldest 1, durable 400, next 401"))
        #expect(inspect.stdoutText.contains("clean: LSN 1...400, 400 records"))
        let inspectJSON = try CLI.run(["inspect", "--json"] + j)
        let info = try JSONSerialization.jsonObject(with: inspectJSON.stdout) as? [String: Any]
        #expect(info?["durable_lsn"] as? Int == 400)
        let segments = info?["segments"] as? [[String: Any]] ?? []
        #expect(segments.count >= 3, "64 KiB segments: the workload spans several")
        #expect((info?["configuration"] as? [String: Any])?["segment_bytes"] as? Int == 64 << 10)

        // Verify: every record read and checked.
        let verify = try CLI.run(["verify"] + j)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdoutText.hasPrefix("verified 400 records"))
        let absolute = try CLI.run(["verify", "--recovery", "absolute"] + j)
        #expect(absolute.status == 0, "\(absolute.stderr)")

        // Truncate before the third segment's base: the first two go.
        let thirdBase = try #require(segments.count >= 3 ? segments[2]["base_lsn"] as? Int : nil)
        let truncate = try CLI.run(["truncate", "--before", "\(thirdBase)"] + j)
        #expect(truncate.status == 0, "\(truncate.stderr)")
        #expect(truncate.stdoutText.hasPrefix("released 2 segments; oldest LSN \(thirdBase)"))
        let after = try CLI.run(["replay", "--json"] + j)
        #expect(after.lines.count == 400 - thirdBase + 1)
        #expect(after.lines.first?.hasPrefix("{\"lsn\": \(thirdBase),") == true)
        let tooOld = try CLI.run(["replay", "--from", "1"] + j)
        #expect(tooOld.status == 64)
        #expect(tooOld.errorLine == "journalctl-swift: LSN 1 is not in the journal (first \(thirdBase), durable 400)")

        // Appending after truncation continues the LSNs; --quiet summarizes.
        let quiet = try CLI.run(["append", "--quiet"] + j, stdin: CLI.lines(["one", "two"]))
        #expect(quiet.status == 0, "\(quiet.stderr)")
        #expect(quiet.lines.count == 1)
        #expect(quiet.stdoutText.hasPrefix("appended 2 records, 6 bytes in "))
        #expect(quiet.stdoutText.contains("LSN 401...402"))
        #expect(try CLI.run(["replay", "--from", "401"] + j).lines == ["401\tone", "402\ttwo"])
    }

    @Test(arguments: fileSystems)
    func noDirectKeepsWorking(base: String) throws {
        let scratch = try Scratch(base: base)
        defer { scratch.remove() }
        let j = ["--journal", scratch.path("j"), "--no-direct"]
        #expect(try CLI.run(["create"] + j).status == 0)
        let append = try CLI.run(["append"] + j, stdin: CLI.lines(["a", "b", "c"]))
        #expect(append.status == 0 && append.lines == ["1", "2", "3"], "\(append.stderr)")
        // The files are the same with or without direct I/O.
        #expect(try CLI.run(["replay", "--journal", scratch.path("j")]).lines == ["1\ta", "2\tb", "3\tc"])
        #expect(try CLI.run(["verify"] + j).status == 0)
    }

    @Test func demoRunsTwiceAndChecksItsRecords() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let j = ["--journal", scratch.path("data/journal")]
        let first = try CLI.run(["demo", "--appenders", "4", "--records", "50"] + j)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdoutText.contains("appended  200 records"))
        #expect(first.stdoutText.contains("replay    200 of 200 new records match, LSN 1...200: OK"))
        let second = try CLI.run(["demo", "--appenders", "4", "--records", "50"] + j)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdoutText.contains("replay    200 of 200 new records match, LSN 201...400: OK"))
        #expect(second.stdoutText.contains("recovery  clean: LSN 1...400"))
    }

    @Test func helpDocumentsExitCodesAndFraming() throws {
        let help = try CLI.run(["--help"])
        #expect(help.status == 0)
        for code in ["64", "65", "66", "73", "74", "75", "76", "77", "78"] {
            #expect(help.stdoutText.contains("\n  \(code)  "), "exit code \(code) documented")
        }
        let appendHelp = try CLI.run(["append", "--help"])
        #expect(appendHelp.stdoutText.contains("4-byte little-endian length"))
        let replayHelp = try CLI.run(["replay", "--help"])
        #expect(replayHelp.stdoutText.contains("payload_base64"))
    }
}
