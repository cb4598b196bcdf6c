import Foundation
import Journal
import JournalFileStorage
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `replay --follow` killed and restarted from where it stopped, and
/// `truncate` run while it follows.
@Suite("replay --follow restarted, and beside truncate")
struct FollowCLIRestartTests {
    private static func record(_ i: Int) -> String { "record-\(i)-" + String(repeating: "x", count: 400 + i % 300) }

    private static func makeJournal(_ label: String) throws -> TemporaryDirectory {
        let dir = TemporaryDirectory(on: .shm, label)
        var configuration = JournalConfiguration()
        configuration.segmentBytes = 128 << 10
        configuration.recordBytesMax = 16 << 10
        configuration.pageBytes = 32 << 10
        try Journal.create(path: dir.path, configuration: configuration)
        return dir
    }

    /// The journal's records as `replay` prints them, from `lsn`.
    private static func expectedLines(_ path: String, from lsn: LSN) throws -> [String] {
        let log = try Journal.openForReading(path: path)
        defer { log.close() }
        return try log.records(from: lsn).map { "\($0.lsn)\t" + String(decoding: $0.payload, as: UTF8.self) }
    }

    /// The complete lines of `output` (a line cut by a kill is not printed).
    private static func completeLines(_ output: [UInt8]) -> [String] {
        guard let end = output.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
        return String(decoding: output[...end], as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// A follower SIGKILLed while an `append` streams, restarted with
    /// `--from` one past the last LSN it printed: together the two print the
    /// log, no gap, no duplicate.
    @Test(.timeLimit(.minutes(10)))
    func aKilledFollowerRestartedFromItsLastLSNContinues() throws {
        guard let executable = Executable.journalctl else {
            Issue.record(Comment(rawValue: ChildError.missingExecutable.description))
            return
        }
        signal(SIGPIPE, SIG_IGN)
        let dir = try Self.makeJournal("follow-restart")
        let first = try RunningCLI(executable, ["replay", "--follow", "--journal", dir.path])
        let writer = try RunningCLI(executable, ["append", "--journal", dir.path], input: (0..<1200).map(Self.record))
        first.collector.waitForLines(300)
        kill(first.process.processIdentifier, SIGKILL)
        let printed = Self.completeLines(first.finish().stdout)
        let last = try #require(printed.last.flatMap { $0.split(separator: "\t").first }.flatMap { LSN($0) })
        #expect(last >= 300)
        let second = try RunningCLI(executable, ["replay", "--follow", "--from", "\(last + 1)", "--journal", dir.path])
        #expect(writer.finish().status == 0)
        let expected = try Self.expectedLines(dir.path, from: 1)
        #expect(expected.count == 1200)
        second.collector.waitForLines(expected.count - Int(last))
        kill(second.process.processIdentifier, SIGINT)
        let end = second.finish()
        #expect(end.reason == .exit && end.status == 0)
        #expect(printed + Self.completeLines(end.stdout) == expected, "no gap, no duplicate across the restart")
    }

    /// `truncate` between two `append` runs while `replay --follow` runs:
    /// the follower, past the truncation point, goes on and prints exactly
    /// the log; a follower started afterwards from a released LSN gets the
    /// documented error (exit 64) and prints no record.
    @Test(.timeLimit(.minutes(10)))
    func truncationUnderAFollowerNeverShowsAWrongRecord() throws {
        guard let executable = Executable.journalctl else {
            Issue.record(Comment(rawValue: ChildError.missingExecutable.description))
            return
        }
        signal(SIGPIPE, SIG_IGN)
        let dir = try Self.makeJournal("follow-truncate")
        let follower = try RunningCLI(executable, ["replay", "--follow", "--journal", dir.path])
        let firstAppend = try RunningCLI(executable, ["append", "--journal", dir.path], input: (0..<600).map(Self.record))
        #expect(firstAppend.finish().status == 0)
        follower.collector.waitForLines(600)
        let truncate = try RunningCLI(executable, ["truncate", "--before", "500", "--journal", dir.path])
        #expect(truncate.finish().status == 0)
        let oldest = try Journal.openForReading(path: dir.path).oldestLSN
        #expect(oldest > 1, "the truncation released segments")
        let secondAppend = try RunningCLI(executable, ["append", "--journal", dir.path], input: (600..<900).map(Self.record))
        #expect(secondAppend.finish().status == 0)
        follower.collector.waitForLines(900)
        kill(follower.process.processIdentifier, SIGINT)
        let end = follower.finish()
        #expect(end.reason == .exit && end.status == 0)
        let lines = Self.completeLines(end.stdout)
        #expect(lines.count == 900)
        #expect(Array(lines.dropFirst(Int(oldest) - 1)) == (try Self.expectedLines(dir.path, from: oldest)))
        #expect(lines.enumerated().allSatisfy { i, line in line == "\(i + 1)\t" + Self.record(i) })
        let late = try RunningCLI(executable, ["replay", "--follow", "--from", "1", "--journal", dir.path])
        let refused = late.finish()
        #expect(refused.reason == .exit && refused.status == 64, "following from a released LSN is a usage error")
        #expect(refused.stdout.isEmpty)
    }

    /// `replay --follow --until-writer-closes` ends by itself, status 0,
    /// once the `append` beside it has closed, having printed exactly its
    /// records.
    @Test(.timeLimit(.minutes(10)))
    func followingUntilTheWriterClosesEndsWithIt() throws {
        guard let executable = Executable.journalctl else {
            Issue.record(Comment(rawValue: ChildError.missingExecutable.description))
            return
        }
        signal(SIGPIPE, SIG_IGN)
        let dir = try Self.makeJournal("follow-until")
        let follower = try RunningCLI(executable, ["replay", "--follow", "--until-writer-closes", "--journal", dir.path])
        let writer = try RunningCLI(executable, ["append", "--journal", dir.path], input: (0..<400).map(Self.record))
        #expect(writer.finish().status == 0)
        let end = follower.finish()
        #expect(end.reason == .exit && end.status == 0)
        #expect(Self.completeLines(end.stdout) == (0..<400).map { "\($0 + 1)\t" + Self.record($0) })
    }
}
