import Foundation
import Journal
import JournalPrimitives
import TestSupport
import Testing

/// The rules of journal-format.md where the document and the code once
/// parted ways: each test pins the documented behaviour on a journal with
/// 64 KiB segments, 4 KiB pages and 4 KiB blocks, one durable batch per
/// record (record n of a fresh journal starts block n - 1; the first one
/// after the segment header at 128).
@Suite struct FormatRulesTests {
    static let blockBytes = 4096

    static func configuration() -> JournalConfiguration {
        var c = JournalConfiguration()
        c.segmentBytes = 64 << 10
        c.pageBytes = 4096
        c.blockBytes = blockBytes
        c.recordBytesMax = 8000
        return c
    }

    /// Appends `sizes.count` records, each waited for (one batch each).
    static func populate(_ dir: TemporaryDirectory, sizes: [Int]) throws {
        try Journal.create(path: dir.path, configuration: configuration())
        let journal = try Journal.open(path: dir.path)
        for (i, size) in sizes.enumerated() { _ = try journal.appendBlocking(payload(i, bytes: size)) }
        journal.close()
    }

    static func segment(_ dir: TemporaryDirectory, _ index: UInt64) -> String {
        dir.path + "/" + JournalFormat.segmentFileName(index: index)
    }

    static func expectCorruption(_ dir: TemporaryDirectory, _ mode: RecoveryMode = .tolerateTornTail, segment: UInt64, offset: Int? = nil,
                                 sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let journal = try Journal.openForReading(path: dir.path, recovery: mode)
            Issue.record("expected corruption, recovered \(journal.recoveryReport)", sourceLocation: sourceLocation)
        } catch {
            guard case .corruption(let name, let at, _) = error else {
                Issue.record("expected corruption, got \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(name == JournalFormat.segmentFileName(index: segment), sourceLocation: sourceLocation)
            if let offset { #expect(at == offset, "\(error)", sourceLocation: sourceLocation) }
        }
    }

    /// Point 1 (section 7.4): every fragment type is evidence. Record 4 is
    /// damaged; record 5 (FIRST and LAST fragments, written once record 4
    /// was durable) lost its FIRST header: its LAST fragment alone proves
    /// record 4 was acknowledged.
    @Test func aLastFragmentAloneProvesAcknowledgedData() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Self.populate(dir, sizes: [100, 100, 100, 100, 6000])
        let file = Self.segment(dir, 1)
        try patchFile(file, at: 3 * Self.blockBytes + 40 + 10, [0xEE])  // record 4's payload
        try patchFile(file, at: 4 * Self.blockBytes + 16, [0xEE])  // the LSN in record 5's FIRST header
        Self.expectCorruption(dir, segment: 1, offset: 2 * Self.blockBytes + 40 + 100)
    }

    /// Point 9: the derived-salt search is bounded by the epochs recovery
    /// can verify, so a garbage epoch field (2^32 - 1) costs no more than a
    /// genuine one and hides nothing: the search used to spend its whole
    /// budget on it and then skip the acknowledged records behind it.
    @Test func aGarbageEpochDoesNotHideEvidence() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Self.populate(dir, sizes: Array(repeating: 1000, count: 20))
        let second = Self.segment(dir, 2)
        #expect(try readFile(second, at: 32, count: 8) == [17, 0, 0, 0, 0, 0, 0, 0], "segment 1 holds records 1-16")
        try invertByte(second, at: 40)  // the salt: the header fails its checksum
        try patchFile(second, at: 128 + 36, [0xFF, 0xFF, 0xFF, 0xFF])  // record 17's epoch
        Self.expectCorruption(dir, segment: 1, offset: 15 * Self.blockBytes + 40 + 1000)
    }

    /// Point 3 (section 4): a header whose checksum holds but whose flags,
    /// reserved bytes or sizes this version does not accept is an error,
    /// not a damaged header: it used to make the log start look torn and
    /// the records behind it vanish into an empty log.
    @Test(arguments: [12, 60, 100])
    func aValidHeaderWithNonZeroFlagsOrReservedBytesIsAnError(offset: Int) throws {
        let dir = TemporaryDirectory(on: .shm)
        try Self.populate(dir, sizes: [100])
        let file = Self.segment(dir, 1)
        try patchFile(file, at: offset, [1])
        let crc = CRC32C.checksum(try readFile(file, at: 0, count: 124))
        try patchFile(file, at: 124, withUnsafeBytes(of: crc.littleEndian) { Array($0) })
        Self.expectCorruption(dir, segment: 1, offset: 0)
        Self.expectCorruption(dir, .absoluteConsistency, segment: 1, offset: 0)
        // Salvage treats the header as damaged and reads on.
        #expect(throws: Never.self) { try Journal.openForReading(path: dir.path, recovery: .salvage) }
    }

    /// Point 8 (section 7): where recovery says the log ends.
    @Test func theEndOffset() throws {
        let empty = TemporaryDirectory(on: .shm)
        try Journal.create(path: empty.path, configuration: Self.configuration())
        try Journal.open(path: empty.path).close()  // prepares a zero-filled segment 1
        let none = try Journal.openForReading(path: empty.path).recoveryReport
        #expect(none.outcome == .clean && none.endSegment == "" && none.endOffset == 0 && none.lastLSN == 0)

        let dir = TemporaryDirectory(on: .shm)
        try Self.populate(dir, sizes: Array(repeating: 1000, count: 16) + [10])
        let report = try Journal.openForReading(path: dir.path).recoveryReport
        #expect(report.outcome == .clean && report.lastLSN == 17)
        #expect(report.endSegment == JournalFormat.segmentFileName(index: 2) && report.endOffset == 128 + 40 + 10,
                "just past the last record's payload, not rounded: \(report)")

        // The torn first write of a new journal: its header fails its
        // checksum, no fragment proves anything durable: an empty log whose
        // end is the start of that segment's records.
        let torn = TemporaryDirectory(on: .shm)
        try Self.populate(torn, sizes: [10])
        try invertByte(Self.segment(torn, 1), at: 40)
        let cut = try Journal.openForReading(path: torn.path).recoveryReport
        #expect(cut.outcome == .tornTailCut && cut.lastLSN == 0 && cut.recordCount == 0)
        #expect(cut.endSegment == JournalFormat.segmentFileName(index: 1) && cut.endOffset == 128, "\(cut)")
    }
}
