import Foundation
import Journal
import JournalFileStorage
import JournalPrimitives
import Synchronization
import TestSupport
import Testing

/// A record that names its appender's sequence number, so a follower can
/// check it against what was acknowledged: the id, then bytes derived from it.
private func tagged(_ id: Int) -> [UInt8] {
    // Every 97th record spans pages (32 KiB): it is assembled, not mapped.
    let bytes = id % 97 == 0 ? 40_000 : 8 + id % 300
    return withUnsafeBytes(of: UInt32(id).littleEndian, Array.init) + payload(id, bytes: bytes)
}

/// The id a `tagged` record carries, or nil if its bytes are not `tagged(id)`.
private func tag(of bytes: UnsafeRawBufferPointer) -> Int? {
    guard bytes.count >= 4 else { return nil }
    let id = Int(bytes.loadUnaligned(as: UInt32.self).littleEndian)
    return bytes.elementsEqual(tagged(id)) ? id : nil
}

/// What one follower saw: (LSN, id) in delivery order, and how many
/// deliveries broke a rule (a record past the durable LSN, foreign bytes).
private final class Sightings: @unchecked Sendable {
    let seen = LockedValue<[(LSN, Int)]>([])
    let violations = Atomic<Int>(0)

    func note(_ lsn: LSN, _ bytes: UnsafeRawBufferPointer, journal: Journal) {
        if lsn > journal.durableLSN { violations.add(1, ordering: .relaxed) }
        guard let id = tag(of: bytes) else {
            violations.add(1, ordering: .relaxed)
            return
        }
        seen.withLock { $0.append((lsn, id)) }
    }
}

@Suite struct FollowTests {
    /// 64 appending tasks and four followers of every kind (blocking copy,
    /// blocking zero-copy, async sequence, async zero-copy), all started
    /// before the first append: each follower sees every acknowledged
    /// record exactly once, in order, with the acknowledged bytes, none
    /// before it is durable, and ends when the journal closes.
    @Test(arguments: TestFileSystem.allCases)
    func followersSeeEveryAcknowledgedRecord(fs: TestFileSystem) async throws {
        let dir = TemporaryDirectory(on: fs)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 256 << 10))
        let journal = try Journal.open(path: dir.path)
        let sightings = (0..<4).map { _ in Sightings() }
        let copying = try journal.follower(from: 1)
        let zeroCopy = try journal.follower(from: 1)
        let threads = [
            JoinableThread(name: "follow-copy") {
                do {
                    while let r = try copying.nextBlocking() {
                        r.payload.withUnsafeBytes { sightings[0].note(r.lsn, $0, journal: journal) }
                    }
                } catch { sightings[0].violations.add(1000, ordering: .relaxed) }
            },
            JoinableThread(name: "follow-zero-copy") {
                do {
                    try zeroCopy.forEachBlocking { lsn, bytes in
                        sightings[1].note(lsn, bytes, journal: journal)
                        return true
                    }
                } catch { sightings[1].violations.add(1000, ordering: .relaxed) }
            },
        ]
        let sequence = try journal.follow(from: 1)
        let asyncZeroCopy = try journal.follower(from: 1)
        let acknowledged = try await withThrowingTaskGroup(of: [(LSN, Int)].self) { group in
            group.addTask {
                for try await r in sequence {
                    r.payload.withUnsafeBytes { sightings[2].note(r.lsn, $0, journal: journal) }
                }
                return []
            }
            group.addTask {
                try await asyncZeroCopy.forEach { lsn, bytes in
                    sightings[3].note(lsn, bytes, journal: journal)
                    return true
                }
                return []
            }
            for t in 0..<64 {
                group.addTask {
                    var mine: [(LSN, Int)] = []
                    for i in 0..<30 {
                        let id = t * 30 + i
                        mine.append((try await journal.append(tagged(id)), id))
                    }
                    return mine
                }
            }
            var all: [(LSN, Int)] = []
            var appendersLeft = 64
            while let part = try await group.next() {
                all += part
                if !part.isEmpty {
                    appendersLeft -= 1
                    // The followers end once the journal closes.
                    if appendersLeft == 0 { journal.close() }
                }
            }
            return all.sorted { $0.0 < $1.0 }
        }
        for t in threads { t.join() }
        #expect(acknowledged.map(\.0) == (1...1920).map { LSN($0) })
        for (k, s) in sightings.enumerated() {
            #expect(s.violations.load(ordering: .relaxed) == 0, "follower \(k)")
            let seen = s.seen.withLock { $0 }
            #expect(seen.map(\.0) == acknowledged.map(\.0), "follower \(k) sees every record once, in order")
            #expect(seen.map(\.1) == acknowledged.map(\.1), "follower \(k) sees the acknowledged bytes")
        }
    }

    /// A follower may start anywhere from the oldest LSN through the next
    /// one; outside that range it gets a typed error, never a wait.
    @Test func startOutsideTheLogIsRefused() throws {
        let dir = TemporaryDirectory(on: .shm)
        let journal = try openTruncatedJournal(in: dir)
        defer { journal.close() }
        let oldest = journal.oldestLSN
        #expect(oldest > 1)
        for bad in [0, oldest - 1, journal.nextLSN + 1, LSN.max] {
            #expect(throws: JournalError.lsnOutOfRange(requested: bad, first: oldest, durable: 200)) {
                _ = try journal.follower(from: bad)
            }
            #expect(throws: JournalError.lsnOutOfRange(requested: bad, first: oldest, durable: 200)) {
                _ = try journal.follow(from: bad)
            }
        }
        let fromOldest = try journal.follower(from: oldest)
        #expect(try fromOldest.nextBlocking()?.lsn == oldest)
        #expect(try fromOldest.nextBlocking()?.payload == payload(Int(oldest), bytes: 1000))
    }

    /// A follower at the next LSN waits for it; one that truncation
    /// overtook gets `lsnOutOfRange` instead of the records past the hole.
    @Test func waitsForTheNextRecordAndFailsWhenOvertaken() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let journal = try Journal.open(path: dir.path)
        defer { journal.close() }
        let ahead = try journal.follower(from: journal.nextLSN)
        let behind = try journal.follower(from: 1)
        let got = LockedValue<JournalRecord?>(nil)
        let thread = JoinableThread(name: "follow-ahead") { got.withLock { $0 = try? ahead.nextBlocking() } }
        for i in 0..<200 { _ = try journal.appendBlocking(payload(i, bytes: 1000)) }
        thread.join()
        #expect(got.withLock { $0 } == JournalRecord(lsn: 1, payload: payload(0, bytes: 1000)))
        try journal.truncate(before: 150)
        #expect(throws: JournalError.lsnOutOfRange(requested: 1, first: journal.oldestLSN, durable: 200)) {
            _ = try behind.nextBlocking()
        }
    }

    /// `cancel()` ends a blocked follower (whether it is parked already or
    /// not yet), and a cancelled task ends its `for await` loop.
    @Test func cancellationEndsTheWait() async throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let journal = try Journal.open(path: dir.path)
        defer { journal.close() }
        _ = try journal.appendBlocking([1])
        let follower = try journal.follower(from: 1)
        let results = LockedValue<[LSN?]>([])
        let thread = JoinableThread(name: "follow-cancel") {
            let first = try? follower.nextBlocking()
            let second = try? follower.nextBlocking()
            results.withLock { $0 = [first?.lsn, second?.lsn] }
        }
        follower.cancel()
        thread.join()
        // The first call may have read record 1 before the cancel; the
        // second always ends.
        let seen = results.withLock { $0 }
        #expect(seen.count == 2 && seen[1] == nil && (seen[0] == nil || seen[0] == 1))
        let sequence = try journal.follow(from: 2)
        let task = Task {
            var count = 0
            for try await _ in sequence { count += 1 }
            return count
        }
        task.cancel()
        #expect(try await task.value == 0)
    }

    /// A follower of a closed journal reads what was durable, then ends; one
    /// whose records the close made durable gets them before the end.
    @Test func closeEndsAfterTheLastDurableRecord() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let journal = try Journal.open(path: dir.path)
        let follower = try journal.follower(from: 1)
        var last: LSN = 0
        for i in 0..<10 { last = try journal.enqueue(payload(i, bytes: 50)) }
        journal.close()
        #expect(journal.durableLSN == last)
        var lsns: [LSN] = []
        while let r = try follower.nextBlocking() { lsns.append(r.lsn) }
        #expect(lsns == Array(1...last))
        let late = try journal.follower(from: 4)
        var zeroCopy: [LSN] = []
        try late.forEachBlocking { lsn, _ in
            zeroCopy.append(lsn)
            return true
        }
        #expect(zeroCopy == Array(4...last))
    }
}
