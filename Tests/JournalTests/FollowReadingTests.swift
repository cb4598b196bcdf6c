import Foundation
import Journal
import TestSupport
import Testing

/// A follower resumes decoding where its last read stopped (when its next
/// record follows in the same segment) rather than at the segment's index
/// point: these reads stop after every record, so that every read but the
/// first resumes, across rollover, truncation, multi-page records and the
/// gaps salvage recovery skipped.
@Suite struct FollowReadingTests {
    /// Reads one record per call, alternating the copying and the zero-copy
    /// reads, while `nextLSN` is durable; (LSN, payload) in order.
    static func readOneByOne(_ follower: JournalFollower, journal: Journal, max: Int) throws -> [(LSN, [UInt8])] {
        var seen: [(LSN, [UInt8])] = []
        while seen.count < max && follower.nextLSN <= journal.durableLSN {
            if seen.count % 2 == 0 {
                guard let r = try follower.nextBlocking() else { break }
                seen.append((r.lsn, r.payload))
            } else {
                try follower.forEachBlocking { lsn, bytes in
                    seen.append((lsn, Array(bytes)))
                    return false
                }
            }
        }
        return seen
    }

    /// Appends and one-record reads interleaved in a journal of 128 KiB
    /// segments, truncated behind the follower now and then: every record
    /// is delivered once, in order, with its bytes (some span pages).
    @Test func resumedReadsMatchTheLogThroughRolloverAndTruncation() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let journal = try Journal.open(path: dir.path)
        defer { journal.close() }
        let follower = try journal.follower(from: 1)
        var expected: [(LSN, [UInt8])] = []
        var seen: [(LSN, [UInt8])] = []
        for round in 0..<60 {
            for i in 0..<(1 + round % 7) {
                let bytes = payload(round * 10 + i, bytes: (round * 10 + i) % 13 == 0 ? 9_000 : 100 + round * 37 % 2_900)
                expected.append((try journal.appendBlocking(bytes), bytes))
            }
            seen += try Self.readOneByOne(follower, journal: journal, max: 1_000)
            if round % 5 == 4 { _ = try journal.truncate(before: follower.nextLSN) }
        }
        #expect(journal.oldestLSN > 1, "truncation released segments")
        #expect(seen.map(\.0) == expected.map(\.0))
        #expect(zip(seen, expected).allSatisfy { $0.1 == $1.1 })
    }

    /// Gaps salvage skipped, one inside a segment and one across a segment
    /// boundary (geometry of `FormatRulesTests`: one record per 4 KiB
    /// batch, 16 in a 64 KiB segment): the follower jumps each, as
    /// `forEachRecord` does.
    @Test func resumedReadsJumpTheGapsSalvageSkipped() throws {
        let dir = TemporaryDirectory(on: .shm)
        try FormatRulesTests.populate(dir, sizes: Array(repeating: 1000, count: 20))
        try patchFile(FormatRulesTests.segment(dir, 1), at: 4 * 4096 + 40 + 500, [0xEE])  // record 5's payload
        try patchFile(FormatRulesTests.segment(dir, 1), at: 15 * 4096 + 40 + 500, [0xEE])  // record 16's payload
        try patchFile(FormatRulesTests.segment(dir, 2), at: 128 + 40 + 500, [0xEE])  // record 17's payload
        let journal = try Journal.openForReading(path: dir.path, recovery: .salvage)
        defer { journal.close() }
        #expect(journal.recoveryReport.gaps.count == 2, "\(journal.recoveryReport)")
        let seen = try Self.readOneByOne(try journal.follower(from: 1), journal: journal, max: 30)
        let lsns = Array(LSN(1)...LSN(4)) + Array(LSN(6)...LSN(15)) + Array(LSN(18)...LSN(20))
        #expect(seen.map(\.0) == lsns)
        #expect(seen.allSatisfy { $0.1 == (try? journal.record(at: $0.0)) })
    }
}
