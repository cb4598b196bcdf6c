@_spi(Testing) import Journal
import JournalFileStorage
import JournalPrimitives
import JournalStorage
import JournalTesting
import TestSupport
import Testing

/// One consumer per named position, and truncations that positions held
/// back running again at rollover.
@Suite struct RetentionClaimTests {
    private static let segmentBytes = 256 << 10

    /// A journal on a simulated disk in the manual runtime, bounded to
    /// `retainedSegmentsMax` segments per position.
    private func manualJournal(seed: UInt64, retainedSegmentsMax: Int) throws -> Journal {
        let disk = SimulatedDisk(seed: seed)
        let storage = disk.storage()
        try Journal.create(storage: storage, configuration: smallConfiguration(segmentBytes: Self.segmentBytes))
        var options = JournalOptions()
        options.runtime = .manual
        options.retainedBytesMax = retainedSegmentsMax * Self.segmentBytes
        options.recycledSegmentsMax = 2
        return try Journal.open(storage: storage, options: options)
    }

    /// Appends records and pumps until the journal holds `segments` live
    /// segments, then pumps once more (a pending truncation runs there).
    private func fill(_ journal: Journal, segments: Int) throws {
        while journal.segmentSummaries.count < segments {
            let lsn = try journal.enqueue(payload(Int(journal.nextLSN), bytes: 6_000))
            while journal.durableLSN < lsn { try journal.pump() }
        }
        try journal.pump()
    }

    /// A position whose consumer died (no handle) and that the application
    /// truncated past once: at the first rollover that makes it keep more
    /// than the bound, the pending truncation overtakes it, and the
    /// released segments are reused, with no other `truncate` call.
    @Test func aDeadPositionIsOvertakenAtRolloverWithoutAnotherTruncate() throws {
        let journal = try manualJournal(seed: 0x5045_4E44, retainedSegmentsMax: 3)
        defer { journal.close() }
        _ = try journal.createPosition(named: "dead", at: 1)
        try fill(journal, segments: 2)
        let requested = journal.durableLSN
        #expect(try journal.truncate(before: requested) == 0)
        try fill(journal, segments: 3)
        #expect(journal.oldestLSN == 1, "within the bound the position holds the truncation back")
        try fill(journal, segments: 4)
        #expect(journal.oldestLSN > 1, "past the bound the pending truncation went past it")
        #expect(journal.oldestLSN <= requested, "and released nothing the application did not ask for")
        #expect(try journal.readerPositionStatuses().first?.fellBehind == true)
        #expect(throws: JournalError.readerFellBehind(name: "dead", lsn: 1, oldest: journal.oldestLSN)) {
            try journal.follower(resuming: journal.position(named: "dead"))
        }
        // Nothing was released before: any reuse is of what it released.
        try fill(journal, segments: 6)
        #expect(journal.segmentPreparation.reused > 0, "the released files were recycled")
    }

    /// A live position that held a truncation back and then advanced lets
    /// the log go at the next rollover, without another `truncate` call.
    @Test func anAdvancedPositionFreesThePendingTruncationAtRollover() throws {
        let journal = try manualJournal(seed: 0x4144_5641, retainedSegmentsMax: 100)
        defer { journal.close() }
        let position = try journal.createPosition(named: "live", at: 1)
        try fill(journal, segments: 3)
        let requested = journal.durableLSN
        #expect(try journal.truncate(before: requested) == 0)
        try position.advance(to: requested)
        #expect(journal.oldestLSN == 1)
        try fill(journal, segments: 4)
        #expect(journal.oldestLSN > 1 && journal.oldestLSN <= requested)
    }

    /// While one handle holds a named position (it created, advanced or
    /// follows it), another handle, in this journal or another opened on
    /// the same directory, gets `positionInUse` from a follower, an advance
    /// or a drop; once released, the other attaches, from the position as
    /// the first left it.
    @Test func aNamedPositionHasOneConsumer() throws {
        let dir = TemporaryDirectory()
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: Self.segmentBytes))
        let journal = try Journal.open(path: dir.path)
        defer { journal.close() }
        for i in 1...20 { _ = try journal.appendBlocking(payload(i, bytes: 100)) }
        let first = try journal.createPosition(named: "replica", at: 1)
        let second = try journal.position(named: "replica")
        let inUse = JournalError.positionInUse(name: "replica")
        #expect(throws: inUse) { try journal.follower(resuming: second) }
        #expect(throws: inUse) { try second.advance(to: 5) }
        #expect(throws: inUse) { try journal.dropPosition(named: "replica") }
        #expect(throws: inUse) { try journal.createPosition(named: "replica", at: 1) }
        let other = try Journal.openForReading(path: dir.path)
        defer { other.close() }
        #expect(throws: inUse) { try other.position(named: "replica").advance(to: 5) }
        // Reading a position claims nothing.
        #expect(try other.position(named: "replica").lsn == 1)
        try first.advance(to: 10)
        first.release()
        let follower = try journal.follower(resuming: second)
        defer { follower.cancel() }
        #expect(second.lsn == 10 && follower.nextLSN == 10, "the claim reloads the position")
        #expect(try follower.nextBlocking()?.lsn == 10)
        #expect(throws: inUse) { try other.position(named: "replica").advance(to: 15) }
        second.release()
        try other.position(named: "replica").advance(to: 15)
        try other.dropPosition(named: "replica")
        #expect(try journal.namedPositions().isEmpty)
    }

    /// Closing a journal releases the claims its live handles hold (one
    /// made by `createPosition`, one taken by an advance, one by a
    /// follower): another journal on the directory takes each at once,
    /// while the old handles are still alive; they advance no more, and a
    /// handle of the closed journal cannot claim.
    @Test func closingTheJournalReleasesItsHandlesClaims() throws {
        let dir = TemporaryDirectory()
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: Self.segmentBytes))
        let journal = try Journal.open(path: dir.path)
        for i in 1...20 { _ = try journal.appendBlocking(payload(i, bytes: 100)) }
        let created = try journal.createPosition(named: "created", at: 1)
        try journal.createPosition(named: "advanced", at: 1).release()
        let advanced = try journal.position(named: "advanced")
        try advanced.advance(to: 5)
        try journal.createPosition(named: "followed", at: 1).release()
        let followed = try journal.position(named: "followed")
        let follower = try journal.follower(resuming: followed)
        #expect(try follower.nextBlocking()?.lsn == 1)
        let unclaimed = try journal.position(named: "created")
        let other = try Journal.openForReading(path: dir.path)
        defer { other.close() }
        let inUse = JournalError.positionInUse(name: "created")
        #expect(throws: inUse) { try other.position(named: "created").advance(to: 2) }
        journal.close()
        try other.position(named: "created").advance(to: 2)
        try other.position(named: "advanced").advance(to: 6)
        try other.position(named: "followed").advance(to: 3)
        let lsns = Dictionary(uniqueKeysWithValues: try other.namedPositions().map { ($0.name, $0.lsn) })
        #expect(lsns == ["created": 2, "advanced": 6, "followed": 3])
        #expect(throws: JournalError.invalidArgument("reader position 'created' was released")) { try created.advance(to: 3) }
        #expect(throws: JournalError.closed) { try unclaimed.advance(to: 3) }
        withExtendedLifetime((advanced, followed, follower)) {}
    }
}
