import Foundation
@testable import Journal
import JournalFileStorage
import JournalPrimitives
import Synchronization
import TestSupport
import Testing

/// An acknowledged record is visible to followers in other processes before
/// anyone is woken: a writer killed right after an acknowledgement leaves
/// the record in the follow file (journal-format.md, section 11;
/// Tools/promela/followhub.pml).
@Suite struct FollowAcknowledgementTests {
    /// What the publishing hook saw at one publication: the LSN an
    /// appender arriving then was acknowledged for, the follow file's
    /// durable LSN at that moment, and what a journal opened for following
    /// right then delivered (first publications only).
    struct Seen: Sendable {
        var acknowledged: LSN
        var followFile: LSN
        var openedFollower: LSN?
    }

    /// The hook runs at every publication where the writer has stored its
    /// durable LSN and woken nobody yet, on the completing thread: there an
    /// appender that comes returns at once, so a writer dying at that point
    /// has acknowledged the record. The follow file must hold it already,
    /// and a journal opened for following then (as another process would
    /// after the writer died) must deliver it. Every appender also checks
    /// the follow file when it returns. No timing: the checks run at the
    /// publication itself, whatever the scheduling.
    @Test func anAcknowledgedRecordIsInTheFollowFileBeforeAnyoneIsWoken() throws {
        let dir = TemporaryDirectory(on: .shm, "follow-ack")
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let journal = try Journal.open(path: dir.path)
        let followFile = try SharedFollowState(storage: journal.storage, create: false)
        let seen = LockedValue<[Seen]>([])
        let opens = Atomic<Int>(0)
        let path = dir.path
        journal.followers.publishingHook = { [unowned journal] lsn in
            // An appender arriving now is acknowledged at once. (Several
            // completing threads may run this at once.)
            guard (try? journal.waitUntilDurableBlocking(lsn)) != nil else { return }
            var entry = Seen(acknowledged: lsn, followFile: followFile.durableLSN)
            if opens.add(1, ordering: .relaxed).oldValue < 3 {
                entry.openedFollower = Self.lastDelivered(following: path, from: lsn)
            }
            seen.withLock { $0.append(entry) }
        }
        let lateAppenders = LockedValue<[(acknowledged: LSN, followFile: LSN)]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<100 {
                guard let lsn = try? journal.appendBlocking(payload(t * 100 + i, bytes: 300)) else { continue }
                let visible = followFile.durableLSN
                if visible < lsn { lateAppenders.withLock { $0.append((lsn, visible)) } }
            }
        }
        journal.followers.publishingHook = nil
        journal.close()
        let all = seen.withLock { $0 }
        #expect(!all.isEmpty, "the hook ran")
        #expect(journal.durableLSN == 400)
        for s in all {
            #expect(s.followFile >= s.acknowledged, "LSN \(s.acknowledged) acknowledged while the follow file held \(s.followFile)")
        }
        #expect(all.count { $0.openedFollower != nil } == min(3, all.count))
        for s in all {
            guard let delivered = s.openedFollower else { continue }
            #expect(delivered >= s.acknowledged, "a follower opened at the acknowledgement of \(s.acknowledged) delivered up to \(delivered)")
        }
        #expect(lateAppenders.withLock { $0.isEmpty }, "appenders found the follow file behind them: \(lateAppenders.withLock { $0 })")
    }

    /// Opens the journal at `path` for following, as another process would,
    /// and reads from `lsn` every record it holds as durable: the last LSN
    /// delivered (0 if none).
    private static func lastDelivered(following path: String, from lsn: LSN) -> LSN {
        guard let reader = try? Journal.openForFollowing(path: path) else { return 0 }
        defer { reader.close() }
        var last: LSN = 0
        guard reader.durableLSN >= lsn, let follower = try? reader.follower(from: lsn) else { return 0 }
        while last < reader.durableLSN, let record = try? follower.nextBlocking() { last = record.lsn }
        return last
    }
}
