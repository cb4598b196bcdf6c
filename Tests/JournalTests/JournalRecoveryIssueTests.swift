@_spi(Testing) import Journal
import JournalStorage
@_spi(Testing) import JournalTesting
import TestSupport
import Testing

// Minimal reproducers of journal issues the crash explorer found, all fixed.
// Each asserts the journal's contract.

/// Creates a small journal on `disk` (16 KiB segments, 512-byte blocks) and
/// opens it in the manual runtime.
func openSmallJournal(on disk: SimulatedDisk) throws -> Journal {
    var c = JournalConfiguration()
    c.segmentBytes = 16 << 10
    c.pageBytes = 4096
    c.blockBytes = 512
    c.recordBytesMax = 6000
    try Journal.create(storage: disk.storage(), configuration: c, journalID: 7)
    return try Journal.open(storage: disk.storage(), options: manualOptions())
}

func manualOptions() -> JournalOptions {
    var o = JournalOptions()
    o.runtime = .manual
    return o
}

@Suite("Journal recovery issues found by the crash explorer")
struct JournalRecoveryIssueTests {
    /// Recovery reads each segment's first record at offset 128 only
    /// (`Recovery.run`: `decoder.record(at: segmentHeaderBytes, ...)`), while
    /// journal-format.md section 6 says a record may also start at the next
    /// block boundary. When a segment's first batch tears after its header
    /// sector landed, recovery cuts it (right) and the next writer resumes at
    /// the next block, 512 (right); but no later recovery looks there: the
    /// acknowledged records of that session vanish (a clean empty log when
    /// they were formed in one batch, a corruption error when later batches
    /// carry committedLSN proof). Explorer reproducer:
    /// `crash-sim --seed 27 --cut 13 --exhaustive-records 10 --workload small --profile write-errors`.
    @Test("records written after a torn first batch of a segment survive a clean reopen")
    func tornFirstBatchThenResumed() throws {
        journalLogsSilenced
        var faults = SimulatedDisk.Faults()
        faults.latencyProbability = 1
        faults.latencyPollsMax = 100
        faults.crashWholeProbability = 0
        faults.crashTornProbability = 1
        // The seed whose tear keeps the header sector (new) and loses the
        // next one (old): record 1 at 128 spans both.
        var found: SimulatedDisk?
        for seed in UInt64(0)..<64 where found == nil {
            let disk = SimulatedDisk(seed: seed, faults: faults)
            let journal = try openSmallJournal(on: disk)
            _ = try journal.enqueue([UInt8](repeating: 0xA1, count: 1000))
            try journal.pump()
            try #require(journal.durableLSN == 0, "the first batch is still in flight")
            let report = withExtendedLifetime(journal) { disk.powerCut() }
            if case .torn(let new) = report.writes.first?.fate, new.contains(0), !new.contains(512) { found = disk }
        }
        let disk = try #require(found)
        let second = try Journal.open(storage: disk.reboot(), options: manualOptions())
        #expect(second.recoveryReport.lastLSN == 0, "the torn record was never acknowledged: cut")
        let payloads = (1...3).map { [UInt8](repeating: UInt8($0), count: 100) }
        let lsns = try second.appendBlocking(contentsOf: payloads)
        #expect(lsns == [1, 2, 3] && second.durableLSN == 3)
        second.close()

        let reader = try Journal.openForReading(storage: disk.storage())
        #expect(reader.durableLSN == 3, "\(reader.recoveryReport)")
        #expect((try? reader.records(from: 1).map(\.payload)) == payloads)
    }

    /// A segment header that fails its checksum (magic intact, one bit
    /// flipped) makes the file `.damaged`, and recovery then ignores it
    /// whole: as the first segment, the log silently starts at the next
    /// active one (or is empty); as a later one, the log ends cleanly before
    /// it, although its fragments carry committedLSN proof that its records
    /// were acknowledged (section 7 asks for a corruption error). The same
    /// happens when a segment's first batch is misdirected (no header at
    /// all). Explorer reproducer: `crash-sim --seed 8 --cut 24`.
    @Test("a flipped bit in a segment header is reported, not read as an empty log")
    func damagedSegmentHeaderLosesAcknowledgedRecords() throws {
        journalLogsSilenced
        let disk = SimulatedDisk(seed: 3)
        let journal = try openSmallJournal(on: disk)
        for i in 1...3 { _ = try journal.appendBlocking([UInt8](repeating: UInt8(i), count: 200)) }
        #expect(journal.durableLSN == 3)
        journal.close()
        let segment = JournalFormat.segmentFileName(index: 1)
        #expect(disk.flipBit(file: segment, offset: 40, bit: 0), "a bit of the salt")

        do {
            let reader = try Journal.openForReading(storage: disk.storage())
            Issue.record("acknowledged records behind a damaged segment header were read as: \(reader.recoveryReport)")
        } catch {
            guard case .corruption(let segmentName, _, _) = error else {
                Issue.record("expected corruption, got \(error)")
                return
            }
            #expect(segmentName == segment)
        }
    }

    /// Truncation released a segment as soon as its successor's first
    /// record was placed (`baseLSN <= durable + 1`), before the batch that
    /// writes the successor's header was durable. A power cut that tore that
    /// batch then left a log whose first segment has a damaged header and
    /// fragments proving an LSN durable that the log no longer holds:
    /// recovery refused the journal as corrupt. Explorer reproducers, all
    /// truncation under write errors or garbage sectors: `crash-sim --seed
    /// 7042 --cut 31`, `--seed 10411 --cut 23`, `--seed 10037 --cut 184`.
    @Test("truncation keeps a segment until its successor's first record is durable")
    func truncationWaitsForTheSuccessorsFirstRecord() throws {
        journalLogsSilenced
        let disk = SimulatedDisk(seed: 11)
        let journal = try openSmallJournal(on: disk)
        defer { journal.close() }
        // Durable records until one lands in a new segment, left unwritten.
        var first: LSN = 0
        for _ in 0..<100 {
            let before = journal.segmentSummaries.count
            let lsn = try journal.enqueue([UInt8](repeating: 5, count: 700))
            if before >= 1 && journal.segmentSummaries.count > before {
                first = lsn
                break
            }
            try journal.waitUntilDurableBlocking(lsn)
        }
        try #require(first > 1, "a record rolled over into a second segment")
        #expect(journal.segmentSummaries.last?.baseLSN == first)
        #expect(journal.durableLSN == first - 1)

        #expect(try journal.truncate(before: first) == 0, "the new segment's header is not on the disk yet")
        #expect(journal.segmentSummaries.count == 2)
        try journal.waitUntilDurableBlocking(first)
        #expect(try journal.truncate(before: first) == 1)
        #expect(journal.segmentSummaries.map(\.baseLSN) == [first])
    }

    @Test("the explorer's points of the early-truncation issue recover", arguments: [(7042, 31), (10411, 23), (10037, 184)])
    func earlyTruncationPoints(seed: UInt64, cut: Int) {
        journalLogsSilenced
        var scenario = JournalCrashScenario(seed: seed)
        // Found before reader positions joined the workload: their writes
        // move every later boundary.
        scenario.parameters.positionProbability = 0
        let report = scenario.explorer.explore(seed: seed, cut: cut)
        #expect(report.violationCount == 0, describe(report))
        #expect(report.workloadCuts == 1, describe(report))
    }
}
