import Foundation
@_spi(Testing) import Journal
import JournalFileStorage
import JournalPrimitives
import JournalStorage
import JournalTesting
import TestSupport
import Testing

/// Appends records of `bytes` bytes until the journal holds at least
/// `segments` live segments; returns the last LSN.
@discardableResult
private func fill(_ journal: Journal, segments: Int, bytes: Int = 6_000) throws -> LSN {
    var last: LSN = 0
    while journal.segmentSummaries.count < segments {
        last = try journal.appendBlocking(payload(Int(journal.nextLSN), bytes: bytes))
    }
    return last
}

@Suite struct RetentionTests {
    private static let segmentBytes = 256 << 10

    private func open(_ dir: TemporaryDirectory, retainedSegmentsMax: Int = 1_000) throws -> Journal {
        var options = JournalOptions()
        options.retainedBytesMax = retainedSegmentsMax * Self.segmentBytes
        return try Journal.open(path: dir.path, options: options)
    }

    private func makeJournal(retainedSegmentsMax: Int = 1_000) throws -> (TemporaryDirectory, Journal) {
        let dir = TemporaryDirectory()
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: Self.segmentBytes))
        return (dir, try open(dir, retainedSegmentsMax: retainedSegmentsMax))
    }

    /// An unnamed position keeps its record and every later one through a
    /// truncation asked to release them; once advanced, truncation goes on.
    @Test func unnamedPositionHoldsTruncationBack() throws {
        let (dir, journal) = try makeJournal()
        defer { withExtendedLifetime(dir) { journal.close() } }
        try fill(journal, segments: 3)
        let held = journal.nextLSN - 1
        let position = try journal.retainPosition(from: held)
        try fill(journal, segments: 6)
        try journal.truncate(before: journal.durableLSN)
        #expect(journal.oldestLSN <= held)
        #expect(journal.oldestLSN > 1)
        #expect(try !journal.record(at: held).isEmpty)
        let durable = journal.durableLSN
        try position.advance(to: durable)
        try journal.truncate(before: durable)
        #expect(journal.oldestLSN > held)
        position.release()
        try journal.truncate(before: durable + 1)
        #expect(journal.segmentSummaries.count == 1)
    }

    /// A follower made with `retaining` holds back the records it has yet to
    /// read, and moves its position on as it reads.
    @Test func retainingFollowerKeepsWhatItHasNotRead() throws {
        let (dir, journal) = try makeJournal()
        defer { withExtendedLifetime(dir) { journal.close() } }
        let follower = try journal.follower(from: 1, retaining: true)
        try fill(journal, segments: 5)
        try journal.truncate(before: journal.durableLSN)
        #expect(journal.oldestLSN == 1)
        var read: LSN = 0
        while read < 100, let r = try follower.nextBlocking() { read = r.lsn }
        // What it copied is no longer needed.
        #expect(follower.readerPosition?.lsn ?? 0 > 100)
        try journal.truncate(before: journal.durableLSN)
        #expect(journal.oldestLSN > 1)
        #expect(journal.oldestLSN <= follower.readerPosition?.lsn ?? 0)
        // The copies it holds and the records it kept read on in order.
        let durable = journal.durableLSN
        while read < durable, let r = try follower.nextBlocking() {
            #expect(r.lsn == read + 1)
            read = r.lsn
        }
        follower.cancel()
        try journal.truncate(before: journal.durableLSN)
        #expect(journal.segmentSummaries.count == 1)
    }

    /// A lagging named position holds truncation back while it keeps at
    /// most `retainedBytesMax`; past it, truncation overtakes it and its
    /// follower gets `readerFellBehind` naming it, never a later record.
    @Test func laggingNamedPositionIsOvertakenPastTheBound() throws {
        let (dir, journal) = try makeJournal(retainedSegmentsMax: 4)
        defer { withExtendedLifetime(dir) { journal.close() } }
        try fill(journal, segments: 1)
        let position = try journal.createPosition(named: "replica-1", at: 1)
        let follower = try journal.follower(resuming: position)
        #expect(try follower.nextBlocking()?.lsn == 1)
        try fill(journal, segments: 4)
        try journal.truncate(before: journal.durableLSN)
        #expect(journal.oldestLSN == 1)
        let status = try #require(try journal.readerPositionStatuses().first)
        #expect(status.name == "replica-1" && status.lsn == 1 && !status.fellBehind)
        #expect(status.lagRecords == journal.durableLSN)
        #expect(status.retainedBytes == 4 * Self.segmentBytes)
        #expect(status.lagBytes > 3 * Self.segmentBytes && status.lagBytes <= 4 * Self.segmentBytes)
        try fill(journal, segments: 5)
        try journal.truncate(before: journal.durableLSN)
        #expect(journal.oldestLSN > 1)
        #expect(try journal.readerPositionStatuses().first?.fellBehind == true)
        // It had copied one chunk before the truncation; then the error.
        var failure: JournalError?
        do {
            while let r = try follower.nextBlocking() { #expect(r.lsn < journal.oldestLSN) }
        } catch { failure = error }
        #expect(failure == .readerFellBehind(name: "replica-1", lsn: follower.nextLSN, oldest: journal.oldestLSN))
        #expect(throws: JournalError.readerFellBehind(name: "replica-1", lsn: 1, oldest: journal.oldestLSN)) {
            try journal.follower(resuming: journal.position(named: "replica-1"))
        }
    }

    /// Named positions survive a close and reopen; advances move them, drop
    /// removes them; bad names and duplicates are refused.
    @Test func namedPositionsPersistAcrossReopen() throws {
        let (dir, journal) = try makeJournal()
        try fill(journal, segments: 2)
        let a = try journal.createPosition(named: "a", at: 5)
        _ = try journal.createPosition(named: "b.2", at: journal.nextLSN)
        try a.advance(to: 20)
        try a.advance(to: 15)
        #expect(a.lsn == 20)
        #expect(throws: JournalError.self) { try journal.createPosition(named: "a", at: 1) }
        #expect(throws: JournalError.self) { try journal.createPosition(named: "../x", at: 1) }
        #expect(throws: JournalError.self) { try journal.createPosition(named: "c", at: journal.nextLSN + 1) }
        #expect(throws: JournalError.self) { try a.advance(to: journal.nextLSN + 1) }
        let next = journal.nextLSN
        journal.close()
        let reopened = try open(dir)
        defer { reopened.close() }
        #expect(try reopened.namedPositions().map(\.name) == ["a", "b.2"])
        #expect(try reopened.position(named: "a").lsn == 20)
        #expect(try reopened.position(named: "b.2").lsn == next)
        try reopened.dropPosition(named: "b.2")
        #expect(try reopened.namedPositions().map(\.name) == ["a"])
        #expect(throws: JournalError.self) { try reopened.dropPosition(named: "b.2") }
    }

    /// A damaged position file is an error naming it, at open and at
    /// truncation: never a position silently dropped.
    @Test func damagedPositionFileIsRefused() throws {
        let (dir, journal) = try makeJournal()
        _ = try journal.createPosition(named: "p", at: 1)
        journal.close()
        let file = dir.path + "/position-p.pos"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[17] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        #expect(throws: JournalError.corruption(segment: "position-p.pos", offset: 0, detail: "position file checksum mismatch")) {
            try Journal.open(path: dir.path)
        }
        #expect(throws: JournalError.self) { try Journal.openForReading(path: dir.path) }
    }

    /// Named positions on a simulated disk survive power cuts at every
    /// point of an advance: after the cut the position is the old or the
    /// new LSN, never lower than the last advance that returned.
    @Test func namedPositionSurvivesPowerCuts() throws {
        for cut in 0..<12 {
            let disk = SimulatedDisk(seed: 0x504F_5300 + UInt64(cut))
            let storage = disk.storage()
            try Journal.create(storage: storage, configuration: smallConfiguration(segmentBytes: Self.segmentBytes))
            var options = JournalOptions()
            options.runtime = .manual
            let journal = try Journal.open(storage: storage, options: options)
            for i in 0..<20 { _ = try journal.enqueue(payload(i, bytes: 100)) }
            while journal.durableLSN < 20 { try journal.pump() }
            let position = try journal.createPosition(named: "p", at: 1)
            var returned: LSN = 1
            disk.cutAfter(ioBoundary: disk.ioCount + cut)
            for lsn: LSN in [5, 9, 14] {
                do { try position.advance(to: lsn) } catch { break }
                returned = lsn
            }
            let rebooted = disk.reboot()
            let after = try Journal.open(storage: rebooted, options: options)
            let lsn = try after.position(named: "p").lsn
            #expect(lsn >= returned && lsn <= 14, "cut \(cut): position \(lsn), last advance returned \(returned)")
            after.close()
            withExtendedLifetime(journal) {}
        }
    }
}
