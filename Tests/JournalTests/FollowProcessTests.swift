import Foundation
import Journal
import JournalFileStorage
import JournalPrimitives
import Synchronization
import TestSupport
import Testing

/// Reads `follower` on a thread of its own until it delivers `last`, noting
/// each record and every delivery past `writerDurable()` at that moment.
private final class FollowingThread: @unchecked Sendable {
    let seen = LockedValue<[JournalRecord]>([])
    let violations = Atomic<Int>(0)
    let failure = LockedValue<JournalError?>(nil)
    private var thread: JoinableThread?

    init(_ follower: JournalFollower, through last: LSN, writerDurable: @escaping @Sendable () -> LSN) {
        thread = JoinableThread(name: "follow-process") { [self] in
            do throws(JournalError) {
                while let r = try follower.nextBlocking() {
                    if r.lsn > writerDurable() { violations.add(1, ordering: .relaxed) }
                    seen.withLock { $0.append(r) }
                    if r.lsn >= last { return }
                }
            } catch {
                failure.withLock { $0 = error }
            }
        }
    }

    func join() -> [JournalRecord] {
        thread?.join()
        return seen.withLock { $0 }
    }
}

/// Reads `follower` to its end on a thread of its own: the LSNs it
/// delivered and the error it ended with, if any.
func drainFollower(_ follower: JournalFollower) -> (lsns: [LSN], error: JournalError?) {
    let result = LockedValue<(lsns: [LSN], error: JournalError?)>(([], nil))
    let thread = JoinableThread(name: "follow-drain") {
        do throws(JournalError) {
            while let r = try follower.nextBlocking() { result.withLock { $0.lsns.append(r.lsn) } }
        } catch {
            result.withLock { $0.error = error }
        }
    }
    thread.join()
    return result.withLock { $0 }
}

@Suite struct FollowProcessTests {
    /// A journal open for following (as another process would open it) sees
    /// what the writer makes durable, through rollovers, a truncation and a
    /// restart of the writer: every record once, in order, with its bytes,
    /// never one past the writer's durable LSN.
    @Test(arguments: TestFileSystem.allCases)
    func followsTheWriterThroughRolloverTruncationAndRestart(fs: TestFileSystem) throws {
        let dir = TemporaryDirectory(on: fs)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let writer = LockedValue(try Journal.open(path: dir.path))
        let writerDurable: @Sendable () -> LSN = { writer.withLock { durableForFollowers($0) } }
        for i in 0..<50 { _ = try writer.withLock { try $0.appendBlocking(payload(i, bytes: 700)) } }
        let reader = try Journal.openForFollowing(path: dir.path)
        #expect(reader.durableLSN == 50)
        // Phase 1: rollovers, from four appending threads.
        var following = FollowingThread(try reader.follower(from: 1), through: 650, writerDurable: writerDurable)
        let journal = writer.withLock { $0 }
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<150 { _ = try? journal.appendBlocking(payload(50 + t * 150 + i, bytes: 700)) }
        }
        var seen = following.join()
        #expect(seen.map(\.lsn) == (1...650).map { LSN($0) })
        // Phase 2: the writer truncates what was read, then goes on.
        let released = try journal.truncate(before: 600)
        #expect(released > 0)
        let follower = try reader.follower(from: 651)
        following = FollowingThread(follower, through: 900, writerDurable: writerDurable)
        for i in 650..<900 { _ = try journal.appendBlocking(payload(i, bytes: 700)) }
        seen += following.join()
        // Phase 3: the writer closes and a new one opens and appends.
        journal.close()
        try writer.withLock { $0 = try Journal.open(path: dir.path) }
        following = FollowingThread(follower, through: 1000, writerDurable: writerDurable)
        for i in 900..<1000 { _ = try writer.withLock { try $0.appendBlocking(payload(i, bytes: 700)) } }
        seen += following.join()
        #expect(seen.map(\.lsn) == (1...1000).map { LSN($0) })
        let lsnsByPayload = Dictionary(uniqueKeysWithValues: (0..<1000).map { (payload($0, bytes: 700), LSN($0 + 1)) })
        #expect(seen.allSatisfy { lsnsByPayload[$0.payload] != nil }, "every record carries an appended payload")
        #expect(following.violations.load(ordering: .relaxed) == 0)
        #expect(following.failure.withLock { $0 } == nil)
        #expect(reader.oldestLSN > 1, "the reader forgot the released segments")
        reader.close()
        writer.withLock { $0.close() }
    }

    /// Records on disk past the durable LSN the follow file publishes are
    /// held back until a writer publishes them: the follow file, not the
    /// segment files, says what is durable.
    @Test func recordsThePublishedLSNDoesNotCoverAreHeldBack() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let writer = try Journal.open(path: dir.path)
        for i in 0..<10 { _ = try writer.appendBlocking(payload(i, bytes: 100)) }
        writer.close()
        // As if the writer had stopped before it published records 6...10.
        let shm = try #require(FileHandle(forUpdatingAtPath: dir.path + "/journal.shm"))
        try shm.seek(toOffset: 32)
        try shm.write(contentsOf: withUnsafeBytes(of: UInt64(5).littleEndian, Array.init))
        try shm.close()
        let reader = try Journal.openForFollowing(path: dir.path)
        defer { reader.close() }
        #expect(reader.durableLSN == 5)
        #expect(throws: JournalError.lsnOutOfRange(requested: 6, first: 1, durable: 5)) { _ = try reader.record(at: 6) }
        let follower = try reader.follower(from: 4)
        let restarted = try Journal.open(path: dir.path)
        defer { restarted.close() }
        let following = FollowingThread(follower, through: 11, writerDurable: { durableForFollowers(restarted) })
        _ = try restarted.appendBlocking([42])
        let seen = following.join()
        #expect(seen.map(\.lsn) == Array(4...11))
        #expect(seen.last?.payload == [42])
    }

    /// Followers opened `untilWriterCloses` end after the last record of a
    /// writer that closes cleanly; a writer opening clears the previous
    /// writer's mark, so they follow it until it closes in turn.
    @Test func followersUntilTheWriterClosesEndWithItsLastRecord() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let first = try Journal.open(path: dir.path)
        for i in 0..<5 { _ = try first.appendBlocking(payload(i, bytes: 100)) }
        first.close()
        let second = try Journal.open(path: dir.path)
        let reader = try Journal.openForFollowing(path: dir.path, untilWriterCloses: true)
        defer { reader.close() }
        let follower = try reader.follower(from: 1)
        let drained = LockedValue<(lsns: [LSN], error: JournalError?)?>(nil)
        let thread = JoinableThread(name: "follow-until") { drained.withLock { $0 = drainFollower(follower) } }
        for i in 5..<40 { _ = try second.appendBlocking(payload(i, bytes: 100)) }
        second.close()
        thread.join()
        let (lsns, error) = try #require(drained.withLock { $0 })
        #expect(lsns == Array(1...40))
        #expect(error == nil)
    }
}
