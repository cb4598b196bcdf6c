import Foundation
import Journal
import JournalFileStorage
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `replay --follow --position NAME` overtaken by truncation while it
/// follows, and one follower per named position.
extension FollowCLITests {
    /// The LSNs at the start of `output`'s complete lines.
    static func printedLSNs(_ output: [UInt8]) -> [LSN] {
        String(decoding: output, as: UTF8.self).split(separator: "\n").compactMap { $0.split(separator: "\t").first.flatMap { LSN($0) } }
    }

    /// Runs a short command to its end; returns its status and standard error.
    static func runToEnd(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let run = try RunningCLI(executable, arguments, collectingErrors: true)
        let end = run.finish()
        return (end.status, String(decoding: end.stderr, as: UTF8.self))
    }

    /// Appends records until the writer holds `segments` live segments.
    static func fill(_ writer: Journal, segments: Int) throws {
        while writer.segmentSummaries.count < segments {
            _ = try writer.appendBlocking(Array(record(Int(writer.nextLSN)).utf8))
        }
    }

    /// A follower of a named position, stopped (SIGSTOP) once it has printed
    /// every record, while the writer appends past `retainedBytesMax` and
    /// truncates: continued, it exits 79 with one line on stderr, having
    /// printed only consecutive LSNs from the position, none past the gap.
    @Test(.timeLimit(.minutes(10)))
    func aFollowerOvertakenWhileFollowingExits79WithoutAGap() throws {
        guard let executable = Executable.journalctl else {
            Issue.record(Comment(rawValue: ChildError.missingExecutable.description))
            return
        }
        signal(SIGPIPE, SIG_IGN)
        let dir = try Self.smallJournal("follow-overtaken")
        var options = JournalOptions()
        options.retainedBytesMax = 3 * (128 << 10)
        let writer = try Journal.open(path: dir.path, options: options)
        defer { writer.close() }
        for i in 1...100 { _ = try writer.appendBlocking(Array(Self.record(i).utf8)) }
        #expect(try Self.runToEnd(executable, ["position", "create", "p", "--at", "1", "--journal", dir.path]).status == 0)
        let follower = try RunningCLI(executable, ["replay", "--follow", "--position", "p", "--journal", dir.path], collectingErrors: true)
        follower.collector.waitForLines(100)
        // Still following, but held still while the writer runs past it.
        kill(follower.process.processIdentifier, SIGSTOP)
        try Self.fill(writer, segments: 10)
        let released = try writer.truncate(before: writer.durableLSN)
        let oldest = writer.oldestLSN
        guard oldest > 101 else {
            // Not overtaken: the follower would wait for ever.
            Issue.record("truncation did not go past the position: \(released) segments released, oldest \(oldest)")
            kill(follower.process.processIdentifier, SIGKILL)
            _ = follower.finish()
            return
        }
        kill(follower.process.processIdentifier, SIGCONT)
        let end = follower.finish()
        #expect(end.reason == .exit && end.status == 79)
        let errors = String(decoding: end.stderr, as: UTF8.self).split(separator: "\n")
        #expect(errors.count == 1 && errors.first?.contains("fell behind") == true, "\(errors)")
        let lsns = Self.printedLSNs(end.stdout)
        #expect(lsns.count >= 100)
        #expect(lsns == (0..<lsns.count).map { LSN($0 + 1) }, "every printed LSN is the previous one plus 1")
        #expect((lsns.last ?? 0) < oldest, "nothing printed past the gap")
    }

    /// One follower per named position: while `replay --follow --position p`
    /// runs, a second one, and `position advance|drop p`, exit 75 with one
    /// line; once the first is killed (SIGKILL: the kernel drops its lock),
    /// a second attaches and goes on from the position, with no gap.
    @Test(.timeLimit(.minutes(10)))
    func aNamedPositionHasOneFollowerAtATime() throws {
        guard let executable = Executable.journalctl else {
            Issue.record(Comment(rawValue: ChildError.missingExecutable.description))
            return
        }
        signal(SIGPIPE, SIG_IGN)
        let dir = try Self.smallJournal("follow-one-consumer")
        let writer = try Journal.open(path: dir.path)
        defer { writer.close() }
        for i in 1...50 { _ = try writer.appendBlocking(Array(Self.record(i).utf8)) }
        let j = ["--journal", dir.path]
        #expect(try Self.runToEnd(executable, ["position", "create", "p", "--at", "1"] + j).status == 0)
        let first = try RunningCLI(executable, ["replay", "--follow", "--position", "p"] + j)
        first.collector.waitForLines(50)
        for command in [["replay", "--follow", "--position", "p"], ["position", "advance", "p", "2"], ["position", "drop", "p"]] {
            let (status, stderr) = try Self.runToEnd(executable, command + j)
            let lines = stderr.split(separator: "\n")
            #expect(status == 75 && lines.count == 1 && lines.first?.contains("in use") == true, "\(command): \(status) \(stderr)")
        }
        kill(first.process.processIdentifier, SIGKILL)
        _ = first.finish()
        let saved = try Journal.openForReading(path: dir.path)
        let resumeFrom = try saved.position(named: "p").lsn
        saved.close()
        try #require(resumeFrom >= 1 && resumeFrom <= 51)
        let second = try RunningCLI(executable, ["replay", "--follow", "--position", "p"] + j)
        for i in 51...60 { _ = try writer.appendBlocking(Array(Self.record(i).utf8)) }
        second.collector.waitForLines(60 - Int(resumeFrom) + 1)
        kill(second.process.processIdentifier, SIGINT)
        let end = second.finish()
        #expect(end.reason == .exit && end.status == 0)
        #expect(Self.printedLSNs(end.stdout) == Array(resumeFrom...60), "the second follower goes on from the position: no gap")
        // Ended, it no longer holds the position.
        #expect(try Self.runToEnd(executable, ["position", "advance", "p", "61"] + j).status == 0)
    }
}
