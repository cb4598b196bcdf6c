import Foundation
import Journal
import TestSupport
import Testing

/// Salvage mode (journal-format.md, section 7.6) returns every intact
/// record it can place, reports what it skipped, and leaves the journal
/// readable and appendable. Geometry as in `FormatRulesTests`: one record
/// per 4 KiB batch, 16 batches in a 64 KiB segment.
@Suite struct SalvageTests {
    func records(_ journal: Journal) throws -> [LSN] {
        var seen: [LSN] = []
        try journal.forEachRecord(from: journal.oldestLSN) { lsn, bytes in
            seen.append(lsn)
            return true
        }
        return seen
    }

    func salvageOpen(_ dir: TemporaryDirectory) throws -> Journal {
        var options = JournalOptions()
        options.recovery = .salvage
        return try Journal.open(path: dir.path, options: options)
    }

    /// A damaged header on the newest segment: its records are read with the
    /// salt derived for it (salvage used to fail: it resumed only in active
    /// segments).
    @Test func readsBehindADamagedSegmentHeader() throws {
        let dir = TemporaryDirectory(on: .shm)
        try FormatRulesTests.populate(dir, sizes: Array(repeating: 1000, count: 20))
        try invertByte(FormatRulesTests.segment(dir, 2), at: 40)
        FormatRulesTests.expectCorruption(dir, segment: 1)

        let journal = try salvageOpen(dir)
        let report = journal.recoveryReport
        #expect(report.outcome == .salvaged && report.lastLSN == 20, "\(report)")
        let gap = try #require(report.gaps.first)
        let expectedEnd = 15 * 4096 + 40 + 1000
        #expect(report.gaps.count == 1 && gap.segment == JournalFormat.segmentFileName(index: 1) && gap.offset == expectedEnd)
        #expect(gap.lastLSNBefore == 16 && gap.firstLSNAfter == 17)
        #expect(gap.resumeSegment == JournalFormat.segmentFileName(index: 2) && gap.resumeOffset == 128)
        #expect(try records(journal) == Array(LSN(1)...LSN(20)))
        for i in 1...20 { #expect(try journal.record(at: LSN(i)) == payload(i - 1, bytes: 1000)) }
        #expect(try journal.appendBlocking([9, 9]) == 21, "appendable after a salvage open")
        journal.close()
        let again = try Journal.openForReading(path: dir.path, recovery: .salvage)
        #expect(try records(again) == Array(LSN(1)...LSN(21)))
        #expect(try again.record(at: 21) == [9, 9])
    }

    /// A damaged header on the log's first segment, with fragments proving
    /// records durable: salvage reads the file with its derived salt (it
    /// used to refuse: "segment header fails its checksum, but acknowledged
    /// records follow").
    @Test func readsPastADamagedLogStart() throws {
        let dir = TemporaryDirectory(on: .shm)
        try FormatRulesTests.populate(dir, sizes: Array(repeating: 1000, count: 20))
        try invertByte(FormatRulesTests.segment(dir, 1), at: 40)
        FormatRulesTests.expectCorruption(dir, segment: 1, offset: 0)

        let journal = try salvageOpen(dir)
        let report = journal.recoveryReport
        #expect(report.outcome == .salvaged && report.firstLSN == 1 && report.lastLSN == 20, "\(report)")
        #expect(report.gaps.map(\.offset) == [0] && report.gaps.first?.firstLSNAfter == 1)
        #expect(try records(journal) == Array(LSN(1)...LSN(20)))
        #expect(try journal.record(at: 3) == payload(2, bytes: 1000))
        #expect(try journal.appendBlocking([7]) == 21)
        journal.close()
    }

    /// Damage with nothing past it that decodes whole: the log ends there,
    /// the gap runs to the highest LSN the evidence names, and numbering
    /// goes on after it, so no acknowledged record's LSN is reused (salvage
    /// used to fail).
    @Test func nothingToResumeEndsTheLogPastTheLostLSNs() throws {
        let dir = TemporaryDirectory(on: .shm)
        try FormatRulesTests.populate(dir, sizes: Array(repeating: 1000, count: 10))
        let file = FormatRulesTests.segment(dir, 1)
        for block in 4..<10 { try patchFile(file, at: block * 4096 + 40 + 500, [0xEE]) }  // records 5-10's payloads
        FormatRulesTests.expectCorruption(dir, segment: 1, offset: 3 * 4096 + 40 + 1000)

        let journal = try salvageOpen(dir)
        let report = journal.recoveryReport
        #expect(report.outcome == .salvaged, "\(report)")
        let gap = try #require(report.gaps.first)
        let expectedEnd = 3 * 4096 + 40 + 1000
        #expect(report.gaps.count == 1 && gap.segment == JournalFormat.segmentFileName(index: 1) && gap.offset == expectedEnd)
        #expect(gap.lastLSNBefore == 4 && gap.firstLSNAfter == 11 && gap.resumeSegment.isEmpty)
        #expect(try records(journal) == [1, 2, 3, 4])
        #expect(throws: JournalError.self) { try journal.record(at: 5) }
        #expect(try journal.appendBlocking([5]) == 11)
        journal.close()

        FormatRulesTests.expectCorruption(dir, segment: 1)
        let again = try Journal.openForReading(path: dir.path, recovery: .salvage)
        #expect(try records(again) == [1, 2, 3, 4, 11], "\(again.recoveryReport)")
        #expect(again.recoveryReport.gaps.map(\.firstLSNAfter) == [11])
    }

    /// A gap that starts in one segment and ends in the next, skipping the
    /// LSNs on both sides of the boundary: reading jumps from the last
    /// record before it to the first after it.
    @Test func aGapAcrossASegmentBoundary() throws {
        let dir = TemporaryDirectory(on: .shm)
        try FormatRulesTests.populate(dir, sizes: Array(repeating: 1000, count: 20))
        try patchFile(FormatRulesTests.segment(dir, 1), at: 15 * 4096 + 40 + 500, [0xEE])  // record 16's payload
        try patchFile(FormatRulesTests.segment(dir, 2), at: 128 + 40 + 500, [0xEE])  // record 17's payload
        let journal = try Journal.openForReading(path: dir.path, recovery: .salvage)
        let gap = try #require(journal.recoveryReport.gaps.first)
        #expect(journal.recoveryReport.gaps.count == 1 && gap.lastLSNBefore == 15 && gap.firstLSNAfter == 18)
        #expect(gap.segment == JournalFormat.segmentFileName(index: 1) && gap.resumeSegment == JournalFormat.segmentFileName(index: 2))
        #expect(try records(journal) == Array(LSN(1)...LSN(15)) + Array(LSN(18)...LSN(20)))
        #expect(try journal.records(from: 16).map(\.lsn) == [18, 19, 20], "a read from inside the gap starts after it")
        #expect(throws: JournalError.self) { try journal.record(at: 17) }
    }

    /// A segment file of the wrong size: refused outside salvage; salvage
    /// sets it aside unread, reads on, and a writer opened so never gives
    /// its name to a new segment (it used to fail in every mode).
    @Test func setsAsideASegmentOfTheWrongSize() throws {
        let dir = TemporaryDirectory(on: .shm)
        try FormatRulesTests.populate(dir, sizes: Array(repeating: 1000, count: 20))
        let second = FormatRulesTests.segment(dir, 2)
        #expect(truncate(second, 8192) == 0)
        FormatRulesTests.expectCorruption(dir, segment: 2, offset: 0)
        FormatRulesTests.expectCorruption(dir, .absoluteConsistency, segment: 2, offset: 0)

        let journal = try salvageOpen(dir)
        let report = journal.recoveryReport
        #expect(report.outcome == .salvaged && report.gaps.isEmpty, "\(report)")
        #expect(report.setAsideSegments == [JournalFormat.segmentFileName(index: 2)])
        #expect(try records(journal) == Array(LSN(1)...LSN(16)))
        // Segment 1 is full: the next records go to a new segment past 2.
        for i in 0..<4 { #expect(try journal.appendBlocking(payload(100 + i, bytes: 1000)) == LSN(17 + i)) }
        journal.close()
        #expect((try FileManager.default.attributesOfItem(atPath: second)[.size] as? Int) == 8192, "left in place")

        // The log jumps from segment 1 past 2: a gap with no missing LSN.
        let again = try Journal.openForReading(path: dir.path, recovery: .salvage)
        #expect(try records(again) == Array(LSN(1)...LSN(20)), "\(again.recoveryReport)")
        let gap = try #require(again.recoveryReport.gaps.first)
        #expect(again.recoveryReport.gaps.count == 1 && gap.lastLSNBefore == 16 && gap.firstLSNAfter == 17)
        #expect(gap.resumeSegment > JournalFormat.segmentFileName(index: 2) && again.recoveryReport.setAsideSegments == [JournalFormat.segmentFileName(index: 2)])
        #expect(try again.record(at: 18) == payload(101, bytes: 1000))
    }
}
