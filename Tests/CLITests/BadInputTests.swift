import Foundation
import Journal
import JournalFileStorage
import JournalPrimitives
import JournalStorage
import Testing

/// Every bad input gets its documented exit code, one line on stderr, and
/// loses nothing already acknowledged.
@Suite struct BadInputTests {
    /// The one-line error format.
    static func expectOneLine(_ r: CLI.Result, _ code: Int32, contains fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == code, "exit status; stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("journalctl-swift: "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(fragment), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    }

    @Test func onlyTheSlowWriteWarningIsDroppedFromStderr() {
        let slow = "2026-01-01T00:00:00+0000 warning swift-journal: bytes=4096 milliseconds=160 [Journal] slow durable write"
        let other = "2026-01-01T00:00:00+0000 warning swift-journal: slot=0 [PageStore] snapshot rejected"
        let error = "journalctl-swift: record of 5000 bytes is above recordBytesMax"
        #expect(CLI.withoutTimingWarnings(slow + "\n" + error + "\n") == error + "\n")
        #expect(CLI.withoutTimingWarnings(other + "\n" + error + "\n") == other + "\n" + error + "\n")
        #expect(CLI.withoutTimingWarnings(error) == error)
    }

    static func makeJournal(_ scratch: Scratch, _ extra: [String] = [], records: [String] = []) throws -> [String] {
        let j = ["--journal", scratch.path("j")]
        let create = try CLI.run(["create"] + j + extra)
        #expect(create.status == 0, "\(create.stderr)")
        if !records.isEmpty {
            let append = try CLI.run(["append"] + j, stdin: CLI.lines(records))
            #expect(append.status == 0, "\(append.stderr)")
        }
        return j
    }

    /// A durable write that fails with EIO (injected by the CLI's testing
    /// hook, which fails the Nth batch write of the process): `append` exits
    /// 74 with the error as its last line on stderr (after the journal's
    /// logged error), has printed only LSNs that are durable (a gapless
    /// prefix), and a reopen finds every one of them intact; the journal
    /// takes appends again after it.
    @Test(arguments: fileSystems)
    func eioFromADurableWriteStopsAppendWithOnlyDurableLSNsPrinted(base: String) throws {
        let scratch = try Scratch(base: base)
        defer { scratch.remove() }
        let j = try Self.makeJournal(scratch, ["--segment-bytes", "1M", "--record-bytes-max", "16K"])
        // 600 records of 12 KB: more than 5 batches of at most 1 MiB. The
        // writer keeps at most 4 batches in flight, so write 5 is submitted
        // only after write 1 completed: something is durable, and printed,
        // before the failure.
        let records = (1...600).map { "record \($0) " + String(repeating: "x", count: 12_000 + $0 % 97) }
        let append = try CLI.run(["append"] + j, stdin: CLI.lines(records), environment: ["JOURNALCTL_TESTING_FAIL_WRITE": "5"])
        #expect(append.status == 74, "stderr: \(append.stderr)")
        let errorLine = append.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(errorLine.hasPrefix("journalctl-swift: ") && errorLine.contains("failed durable write") && errorLine.contains("errno 5"), "\(append.stderr)")
        let printed = append.lines
        #expect(!printed.isEmpty && printed.count < records.count, "\(printed.count) LSNs printed")
        #expect(printed == (1...max(1, printed.count)).map { "\($0)" }, "a gapless prefix of LSNs, in order")

        // Every printed LSN is durable: a reopen (read-only) finds it, intact.
        let replay = try CLI.run(["replay"] + j)
        #expect(replay.status == 0, "\(replay.stderr)")
        let replayed = replay.lines
        #expect(replayed.count >= printed.count)
        #expect(Array(replayed.prefix(printed.count)) == records.prefix(printed.count).enumerated().map { "\($0.offset + 1)\t\($0.element)" })
        let verify = try CLI.run(["verify"] + j)
        #expect(verify.status == 0, "\(verify.stderr)")

        // Without the hook the journal is usable again, after what recovery kept.
        let again = try CLI.run(["append"] + j, stdin: CLI.lines(["after"]))
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.lines == ["\(replayed.count + 1)"])

        // A malformed hook value is a usage error, before anything is appended.
        let bad = try CLI.run(["append"] + j, stdin: CLI.lines(["x"]), environment: ["JOURNALCTL_TESTING_FAIL_WRITE": "zero"])
        Self.expectOneLine(bad, 64, contains: "JOURNALCTL_TESTING_FAIL_WRITE")
        #expect(bad.stdout.isEmpty)
    }

    @Test func usageErrors() throws {
        Self.expectOneLine(try CLI.run(["replay", "--bogus"]), 64, contains: "--bogus")
        Self.expectOneLine(try CLI.run(["truncate", "--journal", "/nonexistent"]), 64, contains: "--before")
        Self.expectOneLine(try CLI.run(["create", "--segment-bytes", "12Q"]), 64, contains: "12Q")
        Self.expectOneLine(try CLI.run(["replay", "--recovery", "maybe"]), 64, contains: "maybe")
    }

    @Test func missingPath() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        for command in [["replay"], ["append"], ["inspect"], ["verify"], ["truncate", "--before", "1"]] {
            let r = try CLI.run(command + ["--journal", scratch.path("missing")], stdin: CLI.lines(["x"]))
            Self.expectOneLine(r, 66, contains: "not found")
            #expect(r.stdout.isEmpty)
        }
        // A path below a regular file.
        #expect(FileManager.default.createFile(atPath: scratch.path("file"), contents: Data("x".utf8)))
        Self.expectOneLine(try CLI.run(["inspect", "--journal", scratch.path("file")]), 66, contains: "not found")
        Self.expectOneLine(try CLI.run(["inspect", "--journal", scratch.path("file/j")]), 66, contains: "not found")
    }

    @Test func notAJournal() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let j = ["--journal", scratch.path("j")]
        try FileManager.default.createDirectory(atPath: scratch.path("j"), withIntermediateDirectories: false)
        Self.expectOneLine(try CLI.run(["replay"] + j), 66, contains: "not a journal")
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: scratch.path("j/journal.meta")))
        Self.expectOneLine(try CLI.run(["replay"] + j), 66, contains: "bad magic")
        let append = try CLI.run(["append"] + j, stdin: CLI.lines(["x"]))
        Self.expectOneLine(append, 66, contains: "not a journal")
        // create refuses to overwrite the directory's metadata file
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("j/journal.meta"))) == Data(repeating: 0x5A, count: 4096))
    }

    @Test func createOnExistingJournal() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let j = try Self.makeJournal(scratch, records: ["kept"])
        Self.expectOneLine(try CLI.run(["create"] + j), 73, contains: "already exists")
        #expect(try CLI.run(["replay"] + j).lines == ["1\tkept"])
        Self.expectOneLine(try CLI.run(["create", "--journal", scratch.path("k"), "--segment-count-max", "1"]), 78, contains: "segment count limit")
    }

    @Test func newerFormatVersion() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let j = try Self.makeJournal(scratch, records: ["a"])
        let metaURL = URL(fileURLWithPath: scratch.path("j/journal.meta"))
        var meta = [UInt8](try Data(contentsOf: metaURL))
        let version = JournalFormat.version + 1
        for k in 0..<4 { meta[8 + k] = UInt8(truncatingIfNeeded: version >> (8 * UInt32(k))) }
        let crc = meta.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<124])) }
        for k in 0..<4 { meta[124 + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
        try Data(meta).write(to: metaURL)
        for command in [["replay"], ["append"], ["inspect"], ["verify"]] {
            let r = try CLI.run(command + j, stdin: CLI.lines(["b"]))
            Self.expectOneLine(r, 78, contains: "format version \(version)")
            #expect(r.stdout.isEmpty)
        }
    }

    @Test func recordAboveMaximumSize() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let j = try Self.makeJournal(scratch, ["--record-bytes-max", "1K"])
        let long = String(repeating: "y", count: 1025)
        let r = try CLI.run(["append"] + j, stdin: CLI.lines(["first", long, "never"]))
        Self.expectOneLine(r, 64, contains: "exceeds the journal's maximum of 1024 bytes")
        #expect(r.lines == ["1"], "the record before is acknowledged")
        // Exactly the maximum is accepted.
        let exact = try CLI.run(["append"] + j, stdin: CLI.lines([String(repeating: "z", count: 1024)]))
        #expect(exact.status == 0 && exact.lines == ["2"], "\(exact.stderr)")
        // Binary: the length prefix alone is enough to refuse.
        let b = try CLI.run(["append", "--binary"] + j, stdin: CLI.frames([[1, 2, 3], [UInt8](repeating: 7, count: 5000)]))
        Self.expectOneLine(b, 64, contains: "record 2: a record of 5000 bytes exceeds")
        #expect(b.lines == ["3"])
        let replay = try CLI.run(["replay"] + j)
        #expect(replay.lines == ["1\tfirst", "2\t" + String(repeating: "z", count: 1024), "3\t\\x01\\x02\\x03"])
    }

    @Test func truncatedBinaryInput() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let j = try Self.makeJournal(scratch)
        var input = CLI.frames([[65, 66], [67]])
        input.append(contentsOf: [10, 0, 0, 0, 1, 2, 3])  // promises 10 bytes, has 3
        let r = try CLI.run(["append", "--binary"] + j, stdin: input)
        Self.expectOneLine(r, 64, contains: "promises 10 bytes but only 3 remain")
        #expect(r.lines == ["1", "2"])
        let partialPrefix = try CLI.run(["append", "--binary"] + j, stdin: CLI.frames([[68]]) + Data([1, 0]))
        Self.expectOneLine(partialPrefix, 64, contains: "not a whole 4-byte length prefix")
        #expect(partialPrefix.lines == ["3"])
        #expect(CLI.unframe(try CLI.run(["replay", "--binary"] + j).stdout) == [[65, 66], [67], [68]], "never a shortened record")
    }

    @Test func secondWriterIsLocked() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let j = try Self.makeJournal(scratch, records: ["before"])
        let storage = try FileSystemStorage(path: scratch.path("j"))
        let holder = try Journal.open(storage: storage)
        let append = try CLI.run(["append"] + j, stdin: CLI.lines(["blocked"]))
        Self.expectOneLine(append, 75, contains: "locked by another writer")
        #expect(append.stdout.isEmpty)
        Self.expectOneLine(try CLI.run(["truncate", "--before", "1"] + j), 75, contains: "locked")
        // Readers take no lock: they see what is durable.
        _ = try holder.appendBlocking(Array("held".utf8))
        #expect(try CLI.run(["replay"] + j).lines == ["1\tbefore", "2\theld"])
        holder.close()
        let again = try CLI.run(["append"] + j, stdin: CLI.lines(["after"]))
        #expect(again.status == 0 && again.lines == ["3"], "\(again.stderr)")
    }

    @Test func journalFullThenTruncateMakesRoom() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let j = try Self.makeJournal(scratch, ["--segment-bytes", "64K", "--page-bytes", "4K", "--record-bytes-max", "1K", "--segment-count-max", "2"])
        let records = (1...3000).map { "record \($0) " + String(repeating: "p", count: 80) }
        let full = try CLI.run(["append"] + j, stdin: CLI.lines(records))
        Self.expectOneLine(full, 76, contains: "journal full")
        let printed = full.lines.compactMap { Int($0) }
        #expect(printed.count == full.lines.count && !printed.isEmpty && printed.count < 3000)
        #expect(printed == Array(1...printed.count), "LSNs in order, without gaps")
        // Nothing acknowledged is lost: every printed LSN replays its record.
        let replay = try CLI.run(["replay"] + j)
        #expect(Array(replay.lines.prefix(printed.count)) == (0..<printed.count).map { "\($0 + 1)\t\(records[$0])" })
        // Still full for the next append, until truncation.
        Self.expectOneLine(try CLI.run(["append"] + j, stdin: CLI.lines(["x"])), 76, contains: "journal full")
        let truncate = try CLI.run(["truncate", "--before", "\(printed.count + 1)"] + j)
        #expect(truncate.status == 0 && truncate.stdoutText.hasPrefix("released 1 segment;"), "\(truncate.stdoutText) \(truncate.stderr)")
        let again = try CLI.run(["append"] + j, stdin: CLI.lines(["after truncation"]))
        #expect(again.status == 0, "\(again.stderr)")
        let last = try #require(again.lines.last.flatMap { Int($0) })
        #expect(try CLI.run(["replay", "--from", "\(last)"] + j).lines == ["\(last)\tafter truncation"])
        #expect(try CLI.run(["verify"] + j).status == 0)
    }

    @Test func permissionDenied() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let j = try Self.makeJournal(scratch, records: ["a"])
        // Root bypasses permission bits: run the CLI without the capabilities
        // that do so (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).
        let prefix = isRoot ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"] : []
        if isRoot, (try? CLI.which("setpriv")) == nil {
            Issue.record("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE to test permission denied")
            return
        }
        #expect(chmod(scratch.path("j"), 0o000) == 0)
        for command in [["append"], ["replay"], ["inspect"]] {
            let r = try CLI.run(command + j, stdin: CLI.lines(["b"]), prefix: prefix)
            Self.expectOneLine(r, 77, contains: "permission denied")
        }
        #expect(chmod(scratch.path("j"), 0o700) == 0)
        // create under a directory that may not be written.
        try FileManager.default.createDirectory(atPath: scratch.path("locked"), withIntermediateDirectories: false)
        #expect(chmod(scratch.path("locked"), 0o500) == 0)
        Self.expectOneLine(try CLI.run(["create", "--journal", scratch.path("locked/j")], prefix: prefix), 77, contains: "permission denied")
        #expect(try CLI.run(["replay"] + j).lines == ["1\ta"], "nothing was lost")
    }

    @Test(.enabled(if: canUnshareMounts, "needs a private mount namespace (CAP_SYS_ADMIN) to bind-mount the journal read-only"))
    func readOnlyFileSystem() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let j = try Self.makeJournal(scratch, records: ["a", "b"])
        let dir = scratch.path("j")
        let exe = try #require(CLI.executable)
        // In a private mount namespace: the journal directory bind-mounted
        // read-only over itself; then append to it.
        let mount = "mount --bind \"$1\" \"$1\" && mount -o remount,ro,bind \"$1\""
        let r = try CLI.runProgram("unshare", ["-m", "--", "sh", "-c", mount + " && exec \"$2\" append --journal \"$1\"", "sh", dir, exe], stdin: CLI.lines(["c"]))
        Self.expectOneLine(r, 77, contains: "read-only file system")
        #expect(r.stdout.isEmpty)
        // Reading needs no write: replay works on the read-only mount.
        let read = try CLI.runProgram("unshare", ["-m", "--", "sh", "-c", mount + " && exec \"$2\" replay --journal \"$1\"", "sh", dir, exe])
        #expect(read.status == 0 && read.lines == ["1\ta", "2\tb"], "\(read.stderr)")
        #expect(try CLI.run(["replay"] + j).lines == ["1\ta", "2\tb"], "nothing was lost")
    }

    @Test(.enabled(if: canUnshareMounts, "needs a private mount namespace (CAP_SYS_ADMIN) to mount ramfs, which rejects O_DIRECT"))
    func fileSystemRejectingDirectIO() throws {
        let scratch = try Scratch(base: "/tmp")
        defer { scratch.remove() }
        let exe = try #require(CLI.executable)
        // ramfs has no direct I/O: create fails with a clear message unless --no-direct.
        let script = """
            mount -t ramfs ramfs "$1" || exit 99
            "$2" create --journal "$1/j"; echo "create=$?"
            "$2" create --journal "$1/j" --no-direct >/dev/null; echo "create-no-direct=$?"
            printf 'one\\ntwo\\n' | "$2" append --journal "$1/j" --no-direct
            echo "append=$?"
            "$2" replay --journal "$1/j" --no-direct
            echo "replay=$?"
            """
        let r = try CLI.runProgram("unshare", ["-m", "--", "sh", "-c", script, "sh", scratch.root, exe])
        #expect(r.lines == ["create=78", "create-no-direct=0", "1", "2", "append=0", "1\tone", "2\ttwo", "replay=0"], "stderr: \(r.stderr)")
        #expect(r.errorLine.hasPrefix("journalctl-swift: the file system of \(scratch.root)/j does not support O_DIRECT (use --no-direct"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }
}

/// `verify` and every reader fail with the corruption code on damage
/// followed by acknowledged records; salvage reads past it.
@Suite struct CorruptionTests {
    @Test func flippedByteBeforeValidRecords() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        // Small records keep the write window (in-flight batches) at ~4 MiB:
        // damage followed by more than that is not a torn tail.
        let j = try BadInputTests.makeJournal(scratch, ["--record-bytes-max", "4K", "--segment-bytes", "16M"])
        // Each payload starts with its index (little-endian u16).
        let payloads: [[UInt8]] = (0..<1600).map { (i: Int) -> [UInt8] in
            var p = [UInt8](repeating: UInt8(i % 251), count: 4000)
            p[0] = UInt8(i & 0xFF)
            p[1] = UInt8(i >> 8)
            return p
        }
        let append = try CLI.run(["append", "--binary", "--quiet"] + j, stdin: CLI.frames(payloads))
        #expect(append.status == 0, "\(append.stderr)")
        #expect(try CLI.run(["verify"] + j).status == 0, "intact before the flip")

        // Flip one byte in the middle of record 2's payload, found by its
        // bytes: where batches start (and so any padding) depends on timing.
        let segmentPath = scratch.path("j/0000000000000001.seg")
        let image = try Data(contentsOf: URL(fileURLWithPath: segmentPath))
        let payloadStart = try #require(image.firstRange(of: Data(payloads[2]))?.lowerBound)
        let flipOffset = UInt64(payloadStart + payloads[2].count / 2)
        let segment = try #require(FileHandle(forUpdatingAtPath: segmentPath))
        try segment.seek(toOffset: flipOffset)
        let byte = try #require(try segment.read(upToCount: 1)?.first)
        try segment.seek(toOffset: flipOffset)
        try segment.write(contentsOf: [byte ^ 0xFF])
        try segment.close()

        BadInputTests.expectOneLine(try CLI.run(["verify"] + j), 65, contains: "corruption in segment 0000000000000001.seg")
        BadInputTests.expectOneLine(try CLI.run(["replay"] + j), 65, contains: "valid records follow")
        BadInputTests.expectOneLine(try CLI.run(["append"] + j, stdin: CLI.lines(["x"])), 65, contains: "corruption")
        let salvage = try CLI.run(["verify", "--recovery", "salvage"] + j)
        BadInputTests.expectOneLine(salvage, 65, contains: "salvage skipped 1 damaged region")
        let salvaged = try CLI.run(["replay", "--binary", "--recovery", "salvage"] + j)
        BadInputTests.expectOneLine(salvaged, 65, contains: "salvage skipped 1 damaged region")
        // Salvage skips the damaged record (and any record of its batch that
        // cannot be told apart from it) and keeps every other one, intact.
        let kept = try #require(CLI.unframe(salvaged.stdout))
        let indices = kept.map { Int($0[0]) | Int($0[1]) << 8 }
        #expect(kept.count >= 1590 && kept.count < 1600, "kept \(kept.count) records")
        #expect(!indices.contains(2), "the damaged record is not returned")
        #expect(indices.first == 0 && zip(indices, indices.dropFirst()).allSatisfy { $0 < $1 }, "in order")
        #expect(zip(indices, kept).allSatisfy { payloads[$0] == $1 }, "each kept record is intact")
        #expect(salvage.stdoutText.hasPrefix("verified \(kept.count) records"))
    }
}
