import Foundation
import Testing

/// `--recovery salvage` from the command line: the records it reads past
/// damage, and the exit code that says records were skipped.
@Suite struct SalvageCLITests {
    /// A journal of 1000 records of 1000 bytes in 256 KiB segments, each
    /// payload starting with its index (little-endian u16), written by two
    /// sessions (999 records, then 1). Returns the
    /// journal arguments and the payloads.
    static func makeSegmentedJournal(_ scratch: Scratch) throws -> ([String], [[UInt8]]) {
        let j = try BadInputTests.makeJournal(
            scratch, ["--record-bytes-max", "4K", "--segment-bytes", "256K", "--page-bytes", "4K", "--block-bytes", "4K"])
        let payloads: [[UInt8]] = (0..<1000).map { (i: Int) -> [UInt8] in
            var p = [UInt8](repeating: UInt8(i % 251), count: 1000)
            p[0] = UInt8(i & 0xFF)
            p[1] = UInt8(i >> 8)
            return p
        }
        // Two sessions: the second's records carry committedLSN 999, proof
        // that every record of the first was acknowledged, so damage to any
        // of them is corruption whatever the batches were (in one session,
        // damage whose batch held every later record is a torn tail).
        for part in [payloads[..<999], payloads[999...]] {
            let append = try CLI.run(["append", "--binary", "--quiet"] + j, stdin: CLI.frames(Array(part)))
            #expect(append.status == 0, "\(append.stderr)")
        }
        return (j, payloads)
    }

    /// The base LSN in a segment file's header (offset 32, little-endian).
    static func baseLSN(_ path: String) throws -> Int {
        let handle = try #require(FileHandle(forReadingAtPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: 32)
        let bytes = try #require(try handle.read(upToCount: 8))
        return bytes.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    }

    static func flipByte(_ path: String, at offset: UInt64) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: [byte ^ 0xFF])
    }

    /// A gap that starts at a segment's first record: replay used to stop
    /// with exit 64 ("LSN N is not in the journal") when it reached the
    /// segment, while inspect reported the gap.
    @Test func gapAtASegmentsFirstRecord() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let (j, payloads) = try Self.makeSegmentedJournal(scratch)
        let second = scratch.path("j/0000000000000002.seg")
        let base = try Self.baseLSN(second)
        #expect(base > 100 && base < 500, "segment 2 starts at LSN \(base)")
        // A payload byte of segment 2's first record (header at 128).
        try Self.flipByte(second, at: 128 + 40 + 500)
        BadInputTests.expectOneLine(try CLI.run(["replay"] + j), 65, contains: "valid records follow")

        let replay = try CLI.run(["replay", "--binary", "--recovery", "salvage"] + j)
        BadInputTests.expectOneLine(replay, 65, contains: "salvage skipped 1 damaged region")
        #expect(replay.stderr.contains("LSN \(base)...\(base)"), "the gap's LSN range: \(replay.stderr)")
        #expect(replay.stderr.contains("from 0000000000000002.seg:128 to 0000000000000002.seg:"), "where the gap lies: \(replay.stderr)")
        let kept = try #require(CLI.unframe(replay.stdout))
        let expected = Array(payloads[0..<(base - 1)] + payloads[base...])
        #expect(kept.count == expected.count && kept == expected, "every record but the damaged one, in order (\(kept.count) records)")

        let json = try CLI.run(["replay", "--json", "--recovery", "salvage"] + j)
        #expect(json.status == 65)
        #expect(json.lines.count == 999)
        let verify = try CLI.run(["verify", "--recovery", "salvage"] + j)
        BadInputTests.expectOneLine(verify, 65, contains: "salvage skipped 1 damaged region")
        #expect(verify.stdoutText.hasPrefix("verified 999 records"), "\(verify.stdoutText)")
        let inspect = try CLI.run(["inspect", "--recovery", "salvage"] + j)
        BadInputTests.expectOneLine(inspect, 65, contains: "salvage skipped 1 damaged region")
        #expect(inspect.stdoutText.contains("gap at 0000000000000002.seg:128 (LSN \(base - 1) -> \(base + 1) at 0000000000000002.seg:"), "\(inspect.stdoutText)")
    }

    /// Replay in salvage mode that skipped records exits 65 with one line
    /// on stderr (it used to exit 0 silently); without damage it exits 0.
    @Test func salvageThatSkipsExits65() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let (j, payloads) = try Self.makeSegmentedJournal(scratch)
        let intact = try CLI.run(["replay", "--binary", "--recovery", "salvage"] + j)
        #expect(intact.status == 0 && intact.stderr.isEmpty, "\(intact.stderr)")
        #expect(CLI.unframe(intact.stdout) == payloads, "every record")

        // A payload byte of the log's first record, right after segment 1's header.
        try Self.flipByte(scratch.path("j/0000000000000001.seg"), at: 128 + 40 + 500)
        let replay = try CLI.run(["replay", "--binary", "--recovery", "salvage"] + j)
        BadInputTests.expectOneLine(replay, 65, contains: "salvage skipped 1 damaged region")
        let kept = try #require(CLI.unframe(replay.stdout))
        #expect(kept.count == 999 && kept == Array(payloads.dropFirst()), "every record but the first, intact (\(kept.count) records)")
        // The log's first LSN is its first record's (it used to be segment
        // 1's base LSN, a record salvage had skipped).
        let inspect = try CLI.run(["inspect", "--json", "--recovery", "salvage"] + j)
        let recovery = (try JSONSerialization.jsonObject(with: inspect.stdout) as? [String: Any])?["recovery"] as? [String: Any]
        #expect(inspect.status == 65 && recovery?["first_lsn"] as? Int == 2, "\(inspect.stdoutText)")
        let verify = try CLI.run(["verify", "--recovery", "salvage"] + j)
        #expect(verify.status == 65 && verify.stdoutText.hasPrefix("verified 999 records"), "\(verify.stdoutText)")
    }
}
