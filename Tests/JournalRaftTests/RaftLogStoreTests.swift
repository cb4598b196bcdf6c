@_spi(Testing) import Journal
@testable import JournalRaft
import JournalTesting
import TestSupport
import Testing

@Suite("Raft log store on the journal")
struct RaftLogStoreTests {
    func entry(_ term: UInt64, _ tag: UInt8) -> RaftLogEntry {
        RaftLogEntry(term: term, type: RaftEntryType.command, payload: [tag, tag &+ 1, tag &+ 2])
    }

    func reopen(_ disk: SimulatedDisk) throws -> RaftLogStore {
        let storage = disk.storage()
        return try RaftLogStore(journal: openRaftJournal(on: storage, create: false), snapshotStorage: storage)
    }

    /// A new store on a new simulated disk.
    func freshStore(seed: UInt64) throws -> (SimulatedDisk, RaftLogStore) {
        let disk = SimulatedDisk(seed: seed)
        let storage = disk.storage()
        return (disk, try RaftLogStore(journal: openRaftJournal(on: storage, create: true), snapshotStorage: storage))
    }

    @Test("bootstrap, term, vote and entries come back after a reopen")
    func reload() throws {
        let (disk, store) = try freshStore(seed: 1)
        let journal = store.journal
        #expect(store.isPristine)
        try store.bootstrap(configuration: [1, 2, 3])
        #expect(throws: RaftLogError.notPristine) { try store.bootstrap(configuration: [1]) }
        try store.setTerm(2)
        try store.setVote(3)
        _ = try store.append([entry(2, 10), entry(2, 20)])
        try drain(journal)
        journal.close()
        let loaded = try reopen(disk).load()
        #expect(loaded.term == 2 && loaded.votedFor == 3)
        #expect(loaded.startIndex == 1 && loaded.snapshot == nil)
        #expect(loaded.entries == [RaftLogEntry(term: 1, type: RaftEntryType.change, payload: [1, 2, 3]), entry(2, 10), entry(2, 20)])
    }

    @Test("a truncation marker removes the conflicting suffix on recovery")
    func truncationMarker() throws {
        let (disk, store) = try freshStore(seed: 2)
        let journal = store.journal
        try store.setTerm(1)
        _ = try store.append((1...10).map { entry(1, UInt8($0)) })
        try store.truncate(from: 6)
        #expect(store.nextIndex == 6)
        _ = try store.append([entry(2, 60), entry(2, 70)])
        try drain(journal)
        journal.close()
        let loaded = try reopen(disk).load()
        #expect(loaded.entries == (1...5).map { entry(1, UInt8($0)) } + [entry(2, 60), entry(2, 70)])
    }

    @Test("a snapshot with trailing entries compacts the journal; an installed one replaces the log")
    func snapshots() throws {
        let (disk, store) = try freshStore(seed: 3)
        let journal = store.journal
        try store.setTerm(1)
        let payload = (0..<600).map { UInt8(truncatingIfNeeded: $0) }
        for i in 1...200 { _ = try store.append([RaftLogEntry(term: 1, type: 1, payload: payload + [UInt8(i)])]) }
        let servers = [RaftServer(id: 1, address: "a", role: 1), RaftServer(id: 2, address: "b", role: 1)]
        let image = RaftSnapshot(index: 150, term: 1, configuration: servers, configurationIndex: 1, data: [4, 5, 6])
        _ = try store.putSnapshot(image, trailing: 10)
        #expect(try store.compact() == nil, "nothing is compacted before the snapshot record is durable")
        try drain(journal)
        let oldest = journal.oldestLSN
        let cut = try #require(try store.compact())
        #expect(journal.oldestLSN > oldest, "whole segments behind the cut were released")
        #expect(journal.oldestLSN <= cut)
        journal.close()
        var loaded = try reopen(disk).load()
        #expect(loaded.snapshot == image)
        #expect(loaded.startIndex <= 141)
        #expect(loaded.startIndex + UInt64(loaded.entries.count) == 201)
        #expect(loaded.entries.last?.payload.last == 200)

        let reopened = try reopen(disk)
        let installed = RaftSnapshot(index: 500, term: 3, configuration: servers, configurationIndex: 400, data: [7])
        _ = try reopened.putSnapshot(installed, trailing: 0)
        #expect(reopened.nextIndex == 501)
        try drain(reopened.journal)
        try reopened.compact()
        reopened.journal.close()
        loaded = try reopen(disk).load()
        #expect(loaded.snapshot == installed && loaded.entries.isEmpty && loaded.startIndex == 501)
        #expect(try disk.storage().fileNames().filter { $0.hasPrefix("raft-snapshot-") }.count == 1)
    }

    @Test("an append that fills the journal halfway leaves the store as recovery will see it")
    func fullJournal() throws {
        _ = journalLogsSilenced
        let disk = SimulatedDisk(seed: 4)
        var c = JournalConfiguration()
        c.segmentBytes = 16 << 10
        c.segmentCountMax = 2
        c.pageBytes = 4096
        c.blockBytes = 512
        c.recordBytesMax = 8000
        try Journal.create(storage: disk.storage(), configuration: c, journalID: 12)
        var o = JournalOptions()
        o.runtime = .manual
        let journal = try Journal.open(storage: disk.storage(), options: o)
        let store = try RaftLogStore(journal: journal, snapshotStorage: disk.storage())
        try store.setTerm(1)
        let big = RaftLogEntry(term: 1, type: 1, payload: [UInt8](repeating: 7, count: 5000))
        var failed = false
        for _ in 0..<20 where !failed {
            let before = store.nextIndex
            do {
                _ = try store.append([big, big, big])
                try drain(journal)
            } catch {
                failed = true
                #expect(store.nextIndex == before || store.nextIndex == before + 1 || store.nextIndex == before + 2)
            }
        }
        #expect(failed, "the journal filled up")
        try drain(journal)
        let expectedNext = store.nextIndex
        journal.close()
        let loaded = try reopen(disk).load()
        #expect(loaded.startIndex + UInt64(loaded.entries.count) == expectedNext)
    }

    @Test("after a power cut the store recovers a state that holds everything durable", arguments: SeedScale.seeds(0..<40))
    func powerCut(seed: UInt64) throws {
        var run = RaftStoreCrashRun(seed: seed)
        try run.execute()
    }
}
