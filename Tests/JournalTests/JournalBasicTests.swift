import Foundation
import Journal
import JournalStorage
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
