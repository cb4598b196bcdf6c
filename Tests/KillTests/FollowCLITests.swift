import Foundation
import Journal
import JournalFileStorage
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A running `journalctl-swift` whose standard output a thread of ours
/// collects, and, if it was given records, whose standard input another
/// feeds.
final class RunningCLI {
    let process = Process()
    let stop: StopSignal
    let collector: OutputCollector
    /// Its standard error, when collected (else it goes to ours).
    let errors: OutputCollector?
    private let feeder: InputFeeder?

    init(_ executable: String, _ arguments: [String], input records: [String]? = nil, collectingErrors: Bool = false) throws {
        stop = try StopSignal()
        let input = Pipe()
        let output = Pipe()
        let errorOutput = collectingErrors ? Pipe() : nil
        setCloseOnExec(input.fileHandleForWriting.fileDescriptor)
        setCloseOnExec(output.fileHandleForReading.fileDescriptor)
        if let errorOutput { setCloseOnExec(errorOutput.fileHandleForReading.fileDescriptor) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errorOutput ?? FileHandle.standardError
        try process.run()
        let chunks = records.map { $0.map { Array(($0 + "\n").utf8) } } ?? []
        feeder = InputFeeder(fd: try ownedNonBlockingCopy(of: input.fileHandleForWriting.fileDescriptor), chunks: chunks, stop: stop)
        collector = OutputCollector(fd: try ownedNonBlockingCopy(of: output.fileHandleForReading.fileDescriptor), stop: stop)
        if let errorOutput {
            errors = OutputCollector(fd: try ownedNonBlockingCopy(of: errorOutput.fileHandleForReading.fileDescriptor), stop: stop)
        } else {
            errors = nil
        }
        try input.fileHandleForWriting.close()
        try output.fileHandleForReading.close()
        try? input.fileHandleForReading.close()
        try? output.fileHandleForWriting.close()
        try errorOutput?.fileHandleForReading.close()
        try? errorOutput?.fileHandleForWriting.close()
    }

    /// Waits for the process to end; returns how, and its output (and its
    /// standard error, if collected).
    func finish() -> (reason: Process.TerminationReason, status: Int32, stdout: [UInt8], stderr: [UInt8]) {
        process.waitUntilExit()
        stop.signal()
        _ = feeder?.finish()
        return (process.terminationReason, process.terminationStatus, collector.finish(), errors?.finish() ?? [])
    }
}

@Suite("replay --follow beside a writer in another process")
struct FollowCLITests {
    /// A journal of 128 KiB segments on tmpfs, so the tests roll over often.
    static func smallJournal(_ name: String) throws -> TemporaryDirectory {
        let dir = TemporaryDirectory(on: .shm, name)
        var configuration = JournalConfiguration()
        configuration.segmentBytes = 128 << 10
        configuration.recordBytesMax = 16 << 10
        configuration.pageBytes = 32 << 10
        try Journal.create(path: dir.path, configuration: configuration)
        return dir
    }

    /// Record `i`'s text: its number, then 400 to 699 bytes.
    static func record(_ i: Int) -> String { "record-\(i)-" + String(repeating: "x", count: 400 + i % 300) }

    /// `replay --follow` in one process prints, one line per record, what
    /// `append` processes make durable through several rollovers, a SIGKILL
    /// of the writer mid-stream and a restart: at the end its lines are
    /// exactly the journal's records, no gap, no duplicate; SIGINT ends it
    /// with status 0. Synchronization is by the follower's own output.
    @Test(.timeLimit(.minutes(10)))
    func followsAppendsThroughRolloverAndAWriterKill() throws {
        guard let executable = Executable.journalctl else {
            Issue.record(Comment(rawValue: ChildError.missingExecutable.description))
            return
        }
        signal(SIGPIPE, SIG_IGN)  // a feeder writing to a killed child gets EPIPE
        let dir = try Self.smallJournal("follow-cli")
        let record = Self.record
        let follower = try RunningCLI(executable, ["replay", "--follow", "--journal", dir.path])
        // A first writer runs to the end.
        let first = try RunningCLI(executable, ["append", "--journal", dir.path], input: (0..<300).map(record))
        #expect(first.finish().status == 0)
        follower.collector.waitForLines(300)
        // A second is killed once the follower has printed some of its records.
        let second = try RunningCLI(executable, ["append", "--journal", dir.path], input: (300..<1500).map(record))
        follower.collector.waitForLines(400)
        kill(second.process.processIdentifier, SIGKILL)
        _ = second.finish()
        // A third recovers the log and goes on.
        let third = try RunningCLI(executable, ["append", "--journal", dir.path], input: (1500..<1700).map(record))
        #expect(third.finish().status == 0)
        let log = try Journal.openForReading(path: dir.path)
        let expected = try log.records(from: 1).map { "\($0.lsn)\t" + String(decoding: $0.payload, as: UTF8.self) }
        #expect(log.segmentSummaries.count > 3, "the appends rolled over several segments")
        log.close()
        follower.collector.waitForLines(expected.count)
        kill(follower.process.processIdentifier, SIGINT)
        let end = follower.finish()
        #expect(end.reason == .exit && end.status == 0, "SIGINT ends replay --follow cleanly")
        let lines = String(decoding: end.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines.count == expected.count)
        #expect(lines == expected, "the follower printed the log: no gap, no duplicate")
    }

    /// `replay --follow --json --from` into a reader that goes away
    /// (`head -n 3`): one JSON line per record from the LSN asked, and exit
    /// status 0 once a write finds the pipe closed (EPIPE, not SIGPIPE).
    @Test(.timeLimit(.minutes(10)))
    func aClosedPipeEndsFollowingCleanly() throws {
        guard let executable = Executable.journalctl else {
            Issue.record(Comment(rawValue: ChildError.missingExecutable.description))
            return
        }
        let dir = TemporaryDirectory(on: .shm, "follow-pipe")
        try Journal.create(path: dir.path)
        let writer = try Journal.open(path: dir.path)
        defer { writer.close() }
        for i in 1...5 { _ = try writer.appendBlocking(Array("r\(i)".utf8)) }
        let shell = try RunningCLI("/bin/bash", ["-c", "\"$0\" replay --follow --json --from 2 --journal \"$1\" | head -n 3; exit ${PIPESTATUS[0]}", executable, dir.path])
        shell.collector.waitForLines(3)
        // head has what it wants; the follower learns it on its next write.
        while shell.process.isRunning { _ = try writer.appendBlocking([1]) }
        let end = shell.finish()
        #expect(end.reason == .exit && end.status == 0, "EPIPE ends replay --follow with status 0")
        let lines = String(decoding: end.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines == (2...4).map { "{\"lsn\": \($0), \"bytes\": 2, \"payload_base64\": \"\(Data("r\($0)".utf8).base64EncodedString())\"}" })
    }

    /// `replay --follow --position NAME`, killed with SIGKILL mid-stream and
    /// started again, prints the log from where its last flush ended: the
    /// second run starts at or before the first record the first run did not
    /// print (no gap), at or after the position the first run's completed
    /// flushes advanced to (duplicates only within the last flush), and a
    /// truncation in between keeps what the position still needs.
    @Test(.timeLimit(.minutes(10)))
    func aKilledFollowerResumesFromItsNamedPosition() throws {
        guard let executable = Executable.journalctl else {
            Issue.record(Comment(rawValue: ChildError.missingExecutable.description))
            return
        }
        signal(SIGPIPE, SIG_IGN)
        let dir = try Self.smallJournal("follow-position")
        let record = Self.record
        let create = try RunningCLI(executable, ["position", "create", "p", "--at", "1", "--journal", dir.path])
        #expect(create.finish().status == 0)
        let first = try RunningCLI(executable, ["replay", "--follow", "--position", "p", "--journal", dir.path])
        let writer1 = try RunningCLI(executable, ["append", "--journal", dir.path], input: (0..<300).map(record))
        #expect(writer1.finish().status == 0)
        // All 300 printed: the flush after the last durable one advanced the position.
        first.collector.waitForLines(300)
        let writer2 = try RunningCLI(executable, ["append", "--journal", dir.path], input: (300..<1200).map(record))
        first.collector.waitForLines(400)
        kill(first.process.processIdentifier, SIGKILL)
        let killed = first.finish()
        #expect(writer2.finish().status == 0)
        let printed = String(decoding: killed.stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        let log = try Journal.openForReading(path: dir.path)
        let expected = try log.records(from: 1).map { "\($0.lsn)\t" + String(decoding: $0.payload, as: UTF8.self) }
        log.close()
        // The first run's lines are the log's first lines (the last may be cut by the kill).
        let complete = printed.enumerated().prefix { $0.element == expected[$0.offset] }.count
        #expect(complete >= 400 && complete >= printed.count - 1)
        // A truncation while no follower runs keeps what the position needs.
        let saved = try Journal.openForReading(path: dir.path)
        let resumeFrom = try saved.position(named: "p").lsn
        saved.close()
        #expect(resumeFrom >= 301 && resumeFrom <= LSN(complete) + 1, "the position is past the completed flushes and not past what was printed")
        let truncate = try RunningCLI(executable, ["truncate", "--before", "\(expected.count)", "--journal", dir.path])
        #expect(truncate.finish().status == 0)
        let truncated = try Journal.openForReading(path: dir.path)
        #expect(truncated.oldestLSN > 1 && truncated.oldestLSN <= resumeFrom, "truncation released segments, none the position needs")
        truncated.close()
        let second = try RunningCLI(executable, ["replay", "--follow", "--position", "p", "--journal", dir.path])
        let remaining = expected.count - Int(resumeFrom) + 1
        second.collector.waitForLines(remaining)
        kill(second.process.processIdentifier, SIGINT)
        let end = second.finish()
        #expect(end.reason == .exit && end.status == 0)
        let resumed = String(decoding: end.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(resumed == Array(expected[(Int(resumeFrom) - 1)...]), "the restart prints the log from its position: no gap")
        #expect(Int(resumeFrom) - 1 <= complete, "no record skipped")
    }
}
