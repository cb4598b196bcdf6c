import Foundation
import Journal
import JournalFileStorage
import JournalPrimitives
import JournalTesting
import TestSupport
import Testing

/// A journal followed as another process follows it, whose directory goes
/// away or is replaced, or whose file system cannot share memory: each a
/// typed error, never a hang or a record of the wrong journal.
@Suite struct FollowProcessBadInputTests {
    private static func journalWithRecords(_ count: Int, on fs: TestFileSystem) throws -> TemporaryDirectory {
        let dir = TemporaryDirectory(on: fs)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let writer = try Journal.open(path: dir.path)
        for i in 0..<count { _ = try writer.appendBlocking(payload(i, bytes: 100)) }
        writer.close()
        return dir
    }

    /// The directory is removed under the follower: it delivers what was
    /// durable, then fails with `notFound` instead of sleeping forever.
    @Test(arguments: TestFileSystem.allCases)
    func aDeletedJournalEndsTheFollowerWithNotFound(fs: TestFileSystem) throws {
        let dir = try Self.journalWithRecords(10, on: fs)
        let reader = try Journal.openForFollowing(path: dir.path)
        defer { reader.close() }
        let follower = try reader.follower(from: 1)
        try FileManager.default.removeItem(atPath: dir.path)
        let (lsns, error) = drainFollower(follower)
        #expect(lsns == Array(1...10))
        #expect(error == .notFound(path: dir.path))
    }

    /// Another journal's follow file takes the place of the followed one
    /// (renamed over it, atomically): the follower fails with `notAJournal`
    /// and never delivers a record of the other journal.
    @Test func aReplacedJournalEndsTheFollowerWithNotAJournal() throws {
        let dir = try Self.journalWithRecords(10, on: .shm)
        let reader = try Journal.openForFollowing(path: dir.path)
        defer { reader.close() }
        let follower = try reader.follower(from: 1)
        let other = TemporaryDirectory(on: .shm)
        try Journal.create(path: other.path, configuration: smallConfiguration())
        let writer = try Journal.open(path: other.path)
        defer { writer.close() }
        for i in 0..<20 { _ = try writer.appendBlocking(payload(1_000 + i, bytes: 100)) }
        #expect(rename(other.path + "/journal.shm", dir.path + "/journal.shm") == 0)
        let (lsns, error) = drainFollower(follower)
        #expect(lsns == Array(1...10))
        #expect(error == .notAJournal(path: dir.path, reason: "the journal was replaced while it was followed"))
    }

    /// A file system that cannot map files shared (mmap's ENODEV, provoked
    /// through the storage seam): following is refused with
    /// `invalidArgument`, while a writer on it works without a follow file.
    @Test func aFileSystemWithoutSharedMappingsRefusesFollowing() throws {
        let dir = try Self.journalWithRecords(3, on: .tmp)
        let refusing = FaultyStorage(try dir.storage(), failingWrites: [], refusesSharedMappings: true)
        #expect {
            _ = try Journal.openForFollowing(storage: refusing)
        } throws: { error in
            guard case .invalidArgument(let message) = error as? JournalError else { return false }
            return message.contains("journal.shm") && message.contains("shared memory")
        }
        let writer = try Journal.open(storage: FaultyStorage(try dir.storage(), failingWrites: [], refusesSharedMappings: true))
        defer { writer.close() }
        #expect(try writer.appendBlocking([1]) == 4)
    }
}
