import Foundation
import Journal
import JournalFileStorage
import JournalStorage
import TestSupport
import Testing

@Suite struct JournalBasicTests {
    @Test(arguments: TestFileSystem.allCases)
    func appendCloseReopenRead(fs: TestFileSystem) throws {
        let dir = TemporaryDirectory(on: fs)
        let storage = try dir.storage()
        try Journal.create(storage: storage, configuration: smallConfiguration())
        let journal = try Journal.open(storage: storage)
        var expected: [(LSN, [UInt8])] = []
        for i in 0..<200 {
            let p = payload(i, bytes: [0, 1, 100, 5000, 40000][i % 5])
            let lsn = try journal.appendBlocking(p)
            #expect(lsn == LSN(i + 1))
            #expect(journal.durableLSN >= lsn)
            expected.append((lsn, p))
        }
        for (lsn, p) in expected { #expect(try journal.record(at: lsn) == p) }
        journal.close()

        let reopened = try Journal.open(storage: storage)
        #expect(reopened.recoveryReport.outcome == .clean)
        #expect(reopened.recoveryReport.lastLSN == 200)
        #expect(reopened.durableLSN == 200)
        let all = try reopened.records(from: 1)
        #expect(all.count == 200)
        for (r, e) in zip(all, expected) {
            #expect(r.lsn == e.0)
            #expect(r.payload == e.1)
        }
        let lsn = try reopened.appendBlocking(Array("after reopen".utf8))
        #expect(lsn == 201)
        reopened.close()
        let third = try Journal.openForReading(storage: storage)
        #expect(try third.record(at: 201) == Array("after reopen".utf8))
        #expect(third.recoveryReport.segmentCount > 1, "40 KB records in 256 KB segments roll over")
    }
}

@Suite struct ReadingTests {
    @Test func iteratorAndRandomAccessFromAnyLSN() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let journal = try Journal.open(path: dir.path)
        var expected: [[UInt8]] = []
        for i in 0..<700 {
            let p = payload(i, bytes: i % 7 == 0 ? 40_000 : 50)
            expected.append(p)
            _ = try journal.enqueue(p)
        }
        try journal.waitUntilDurableBlocking(700)
        for start in [1, 2, 255, 256, 257, 699, 700] as [LSN] {
            let got = Array(journal.recordSequence(from: start))
            #expect(got.map(\.lsn) == Array(start...700))
            #expect(got.map(\.payload) == Array(expected[Int(start - 1)...]))
        }
        #expect(Array(journal.recordSequence(from: 701)).isEmpty)
        // Random access, and zero-copy: a one-fragment record is a view of the mapping.
        for lsn in stride(from: LSN(1), through: 700, by: 37) {
            try journal.withRecord(at: lsn) { bytes in
                #expect(Array(bytes) == expected[Int(lsn - 1)])
            }
        }
        // Early stop in forEachRecord.
        var seen = 0
        try journal.forEachRecord(from: 10) { _, _ in
            seen += 1
            return seen < 5
        }
        #expect(seen == 5)
        journal.close()
    }
}
