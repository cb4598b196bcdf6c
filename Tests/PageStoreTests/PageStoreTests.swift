import Foundation
import Journal
import JournalPrimitives
import JournalStorage
import JournalTesting
import PageStore
import Synchronization
import TestSupport
import Testing

@Suite("Page store: transactions, page table, recovery")
struct PageStoreTests {
    @Test("a commit is read back, by its own transaction before commit and by later ones; reopen replays it")
    func commitReadReopen() throws {
        let dir = TemporaryDirectory()
        let location = try dir.location()
        try PageStore.create(location: location, configuration: smallConfiguration())
        do {
            let store = try PageStore.open(location: location)
            let tx = try store.beginWrite()
            try tx.write(page: 3, page(33))
            try tx.write(page: 0, page(10))
            #expect(value(of: try tx.read(page: 3)) == 33, "a transaction sees its own writes")
            let before = try store.beginRead()
            let lsn = try tx.commit()
            #expect(lsn == 1)
            #expect(store.durableLSN == 1)
            #expect(value(of: try before.read(page: 3)) == 0, "a snapshot taken before the commit does not see it")
            let after = try store.beginRead()
            #expect(after.lsn == 1)
            #expect(value(of: try after.read(page: 3)) == 33)
            #expect(value(of: try after.read(page: 0)) == 10)
            #expect(value(of: try after.read(page: 7)) == 0, "never written pages read as zeros")
            store.close()
        }
        let store = try PageStore.open(location: location)
        #expect(store.recoveryReport.replayedTransactions == 1)
        #expect(store.recoveryReport.snapshotLSN == 0)
        let r = try store.beginRead()
        #expect(value(of: try r.read(page: 3)) == 33)
        #expect(value(of: try r.read(page: 0)) == 10)
        #expect(store.statistics.pageCount == 4)
        store.close()
    }

    @Test("optimistic conflicts: a second writer of the same page fails and writes nothing")
    func conflict() throws {
        let dir = TemporaryDirectory()
        let location = try dir.location()
        try PageStore.create(location: location, configuration: smallConfiguration())
        let store = try PageStore.open(location: location)
        defer { store.close() }
        let a = try store.beginWrite()
        let b = try store.beginWrite()
        let c = try store.beginWrite()
        try a.write(page: 1, page(1))
        try b.write(page: 1, page(2))
        try b.write(page: 2, page(2))
        try c.write(page: 5, page(5))
        try a.commit()
        #expect(throws: PageStoreError.conflict(page: 1)) { try b.commit() }
        try c.commit()  // disjoint pages commit
        let r = try store.beginRead()
        #expect(value(of: try r.read(page: 1)) == 1)
        #expect(value(of: try r.read(page: 2)) == 0, "nothing of the conflicting transaction is visible")
        #expect(value(of: try r.read(page: 5)) == 5)
        #expect(store.publishedLSN == 2)
    }

    @Test("bad input: oversized transaction, page beyond the limit, wrong page size, locked store, finished transaction")
    func badInput() throws {
        let dir = TemporaryDirectory()
        let location = try dir.location()
        try PageStore.create(location: location, configuration: smallConfiguration(pageCountMax: 1000, recordBytesMax: 64 << 10))
        #expect(throws: PageStoreError.alreadyExists(path: location.root.path)) {
            try PageStore.create(location: location, configuration: smallConfiguration())
        }
        let store = try PageStore.open(location: location)
        defer { store.close() }
        let tx = try store.beginWrite()
        #expect(throws: PageStoreError.pageOutOfRange(page: 1000, pageCountMax: 1000)) { try tx.write(page: 1000, page(1)) }
        #expect(throws: PageStoreError.wrongPageSize(bytes: 100, pageBytes: 4096)) { try tx.write(page: 1, [UInt8](repeating: 1, count: 100)) }
        for p in 0..<20 { try tx.write(page: UInt64(p), page(UInt64(p) + 1)) }
        let needed = TransactionRecord.recordBytes(pageCount: 20, pageBytes: 4096)
        #expect(throws: PageStoreError.transactionTooLarge(pages: 20, recordBytes: needed, recordBytesMax: 64 << 10)) { try tx.commit() }
        #expect(store.publishedLSN == 0, "nothing was written")
        #expect(throws: PageStoreError.transactionFinished) { try tx.write(page: 1, page(1)) }
        let r = try store.beginRead()
        #expect(value(of: try r.read(page: 3)) == 0)
        #expect(throws: PageStoreError.pageOutOfRange(page: 5000, pageCountMax: 1000)) { _ = try r.read(page: 5000) }
        // The same directory, opened again: locked.
        let again = try dir.location()
        #expect(throws: PageStoreError.locked(path: again.root.path)) { _ = try PageStore.open(location: again) }
    }

    @Test("snapshot isolation under concurrent writers: a reader sees exactly the commits at or below its LSN, atomically, however many follow")
    func snapshotIsolation() throws {
        let dir = TemporaryDirectory()
        let location = try dir.location()
        try PageStore.create(location: location, configuration: smallConfiguration())
        var options = PageStoreOptions()
        options.applyThresholdVersions = 16  // applies run while readers hold snapshots
        options.tableImageBytesMax = 0  // durable versions are read through the journal's mapping
        let store = try PageStore.open(location: location, options: options)
        defer { store.close() }
        let writers = 4
        let commitsPerWriter = 60
        // Writer w owns pages 2w and 2w+1 and writes its counter into both in
        // one transaction: a reader must always see them equal.
        let failures = LockedValue<[String]>([])
        let threads = (0..<writers).map { w in
            JoinableThread(name: "test") {
                do {
                    for n in 1...commitsPerWriter {
                        let tx = try store.beginWrite()
                        try tx.write(page: UInt64(2 * w), page(UInt64(n)))
                        try tx.write(page: UInt64(2 * w + 1), page(UInt64(n)))
                        try tx.commit()
                    }
                } catch {
                    failures.withLock { $0.append("writer \(w): \(error)") }
                }
            }
        }
        var checks = 0
        var lastSeen = [UInt64](repeating: 0, count: writers)
        while store.publishedLSN < UInt64(writers * commitsPerWriter) || checks < 20 {
            let r = try store.beginRead()
            var first: [UInt64] = []
            for w in 0..<writers {
                let a = value(of: try r.read(page: UInt64(2 * w)))
                let b = value(of: try r.read(page: UInt64(2 * w + 1)))
                #expect(a != nil && a == b, "a transaction is seen whole")
                #expect((a ?? 0) >= lastSeen[w], "later snapshots never go back")
                lastSeen[w] = a ?? 0
                first.append(a ?? 0)
            }
            #expect(first.reduce(0, +) <= r.lsn, "a snapshot at LSN L holds at most L commits")
            // Re-read after more commits: the same values.
            for w in 0..<writers {
                #expect(value(of: try r.read(page: UInt64(2 * w))) == first[w], "repeatable reads")
            }
            r.end()
            checks += 1
        }
        for t in threads { t.join() }
        #expect(failures.withLock { $0 }.isEmpty)
        let final = try store.beginRead()
        #expect(final.lsn == UInt64(writers * commitsPerWriter))
        for w in 0..<writers { #expect(value(of: try final.read(page: UInt64(2 * w))) == UInt64(commitsPerWriter)) }
        // Applies triggered by commits are skipped while another runs, so the
        // count right now depends on timing; once readers end, an apply
        // leaves at most the newest version of each page.
        final.end()
        try store.apply()
        #expect(store.statistics.tableVersionCount <= writers * 2, "once readers end, an apply bounds the page table")
    }

    @Test("concurrent writers with the maintenance thread: the table and the journal since the last checkpoint stay under their hard bounds")
    func maintenanceThreadBounds() throws {
        let dir = TemporaryDirectory()
        let location = try dir.location()
        var config = smallConfiguration(recordBytesMax: 64 << 10)
        config.journal.segmentBytes = 256 << 10
        try PageStore.create(location: location, configuration: config)
        var options = PageStoreOptions()
        options.applyThresholdVersions = 16
        options.checkpointThresholdJournalBytes = 64 << 10
        options.logger.logLevel = .warning
        options.journal.logger.logLevel = .warning
        let store = try PageStore.open(location: location, options: options)
        let writers = 4
        let commitsPerWriter = 120
        let recordBytes = TransactionRecord.recordBytes(pageCount: 2, pageBytes: 4096)
        let factor = options.maintenanceBackpressureFactor
        // An open transaction holds the apply horizon at its start: while a
        // writer is descheduled inside one, the others' versions pile up past
        // the bound for as long as it stays there. So the writers take turns
        // from begin to the commit's LSN (the committer applies or
        // checkpoints within its turn) and wait for durability together.
        // Past the hard bound the committer's apply then leaves only versions
        // not yet durable (two per writer at most), and the commit that
        // crosses it adds one record and two versions to counts at the bound.
        let versionsBound = 16 * factor + 2
        let bytesBound = (64 << 10) * factor + recordBytes
        let turn = ConditionLock()
        let failures = LockedValue<[String]>([])
        let threads = (0..<writers).map { w in
            JoinableThread(name: "test") {
                do {
                    for n in 1...commitsPerWriter {
                        let lsn = try turn.withLock { () throws(PageStoreError) -> LSN in
                            let tx = try store.beginWrite()
                            try tx.write(page: UInt64(2 * w), page(UInt64(n)))
                            try tx.write(page: UInt64(100 + w * commitsPerWriter + n), page(UInt64(n)))
                            return try tx.commitLazy()
                        }
                        try store.waitUntilDurable(lsn)
                        let statistics = store.statistics
                        let versions = statistics.tableVersionCount
                        let bytes = statistics.journalBytesSinceCheckpoint
                        if versions > versionsBound || bytes > bytesBound {
                            failures.withLock { $0.append("writer \(w) commit \(n): \(versions) versions, \(bytes) journal bytes") }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("writer \(w): \(error)") }
                }
            }
        }
        for t in threads { t.join() }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(3) })")
        #expect(store.statistics.automaticCheckpointCount > 0)
        #expect(store.lastMaintenanceError == nil)
        store.close()
        let reopened = try PageStore.open(location: location, options: options)
        defer { reopened.close() }
        #expect(reopened.recoveryReport.snapshotLSN > 0)
        let r = try reopened.beginRead()
        for w in 0..<writers { #expect(value(of: try r.read(page: UInt64(2 * w))) == UInt64(commitsPerWriter)) }
        for w in 0..<writers {
            for n in 1...commitsPerWriter { #expect(value(of: try r.read(page: UInt64(100 + w * commitsPerWriter + n))) == UInt64(n)) }
        }
    }

    @Test("an old snapshot keeps its versions through applies; once it ends, they are dropped")
    func oldSnapshotHoldsVersions() throws {
        let dir = TemporaryDirectory()
        let location = try dir.location()
        try PageStore.create(location: location, configuration: smallConfiguration())
        var options = PageStoreOptions()
        options.applyThresholdVersions = 4
        let store = try PageStore.open(location: location, options: options)
        defer { store.close() }
        let tx = try store.beginWrite()
        try tx.write(page: 9, page(1))
        try tx.commit()
        let old = try store.beginRead()
        for n in 2...40 {
            let t = try store.beginWrite()
            try t.write(page: 9, page(UInt64(n)))
            try t.write(page: UInt64(100 + n), page(UInt64(n)))
            try t.commit()
        }
        #expect(value(of: try old.read(page: 9)) == 1)
        #expect(store.statistics.tableVersionCount > 40, "versions above the old snapshot are kept")
        old.end()
        try store.apply()
        #expect(store.statistics.tableVersionCount == 0)
        #expect(store.appliedLSN == 40)
        let now = try store.beginRead()
        #expect(value(of: try now.read(page: 9)) == 40)
        #expect(value(of: try now.read(page: 140)) == 40)
    }
}
