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
    private let feeder: InputFeeder?

    init(_ executable: String, _ arguments: [String], input records: [String]? = nil) throws {
        stop = try StopSignal()
        let input = Pipe()
        let output = Pipe()
        setCloseOnExec(input.fileHandleForWriting.fileDescriptor)
        setCloseOnExec(output.fileHandleForReading.fileDescriptor)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let chunks = records.map { $0.map { Array(($0 + "\n").utf8) } } ?? []
        feeder = InputFeeder(fd: try ownedNonBlockingCopy(of: input.fileHandleForWriting.fileDescriptor), chunks: chunks, stop: stop)
        collector = OutputCollector(fd: try ownedNonBlockingCopy(of: output.fileHandleForReading.fileDescriptor), stop: stop)
        try input.fileHandleForWriting.close()
        try output.fileHandleForReading.close()
        try? input.fileHandleForReading.close()
        try? output.fileHandleForWriting.close()
    }

    /// Waits for the process to end; returns how, and its output.
    func finish() -> (reason: Process.TerminationReason, status: Int32, stdout: [UInt8]) {
        process.waitUntilExit()
        stop.signal()
        _ = feeder?.finish()
        return (process.terminationReason, process.terminationStatus, collector.finish())
    }
}

@Suite("replay --follow beside a writer in another process")
struct FollowCLITests {
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
        let dir = TemporaryDirectory(on: .shm, "follow-cli")
        var configuration = JournalConfiguration()
        configuration.segmentBytes = 128 << 10
        configuration.recordBytesMax = 16 << 10
        configuration.pageBytes = 32 << 10
        try Journal.create(path: dir.path, configuration: configuration)
        let record = { (i: Int) in "record-\(i)-" + String(repeating: "x", count: 400 + i % 300) }
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
}
