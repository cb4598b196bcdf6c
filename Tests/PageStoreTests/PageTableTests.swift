import Journal
@testable import PageStore
import Testing

/// The page translation table on its own: lookups at a snapshot (S2), the
/// image budget (S3) and apply (A2, A3), without a journal or a data file.
@Suite("Page store: the page translation table")
struct PageTableTests {
    static let pageBytes = 4096

    func image(_ fill: UInt8) -> [UInt8] { [UInt8](repeating: fill, count: Self.pageBytes) }

    func table(commits: [(lsn: LSN, pages: [UInt64])]) -> PageTable {
        var table = PageTable(pageBytes: Self.pageBytes)
        for commit in commits {
            let writes = commit.pages.map { TransactionRecord.PageWrite(number: $0, image: image(UInt8(commit.lsn)), delta: nil) }
            let offsets = TransactionRecord.encode(txid: commit.lsn, pageBytes: Self.pageBytes, pages: writes).imageOffsets
            table.publish(lsn: commit.lsn, pages: zip(writes, offsets).map { (number: $0.number, image: $0.image, offset: $1) })
        }
        return table
    }

    @Test("a lookup at a snapshot finds the page's newest version at or below it; below the oldest, the data file")
    func lookupAtSnapshot() {
        let t = table(commits: [(3, [7]), (5, [2, 7]), (9, [7])])
        #expect(t.version(of: 7, at: 2) == nil, "older than every version: the data file holds it")
        #expect(t.version(of: 7, at: 3)?.lsn == 3)
        #expect(t.version(of: 7, at: 8)?.lsn == 5)
        #expect(t.version(of: 7, at: 9)?.image == image(9))
        #expect(t.version(of: 2, at: 100)?.lsn == 5)
        #expect(t.version(of: 4, at: 100) == nil, "a page never written")
        #expect(t.newestLSN(of: 7) == 9)
        #expect(t.newestLSN(of: 4) == nil)
        #expect(t.versionCount == 4)
        #expect(t.imageBytes == 4 * Self.pageBytes)
    }

    @Test("a version's offset is its image's place in the transaction record")
    func offsetsFollowTheRecord() throws {
        let t = table(commits: [(1, [4, 8, 15])])
        let writes = [UInt64(4), 8, 15].map { TransactionRecord.PageWrite(number: $0, image: image(1), delta: nil) }
        let record = TransactionRecord.encode(txid: 1, pageBytes: Self.pageBytes, pages: writes).record
        for page in [UInt64(4), 8, 15] {
            let version = try #require(t.version(of: page, at: 1))
            let offset = try #require(version.offset)
            #expect(Array(record[offset..<(offset + Self.pageBytes)]) == image(1))
        }
    }

    @Test("a delta's version keeps its copy past the image budget until it is applied")
    func deltaVersionsKeepTheirCopies() {
        var t = PageTable(pageBytes: Self.pageBytes)
        t.publish(lsn: 1, pages: [(number: 1, image: image(1), offset: nil), (number: 2, image: image(1), offset: 40)])
        t.dropDurableCopies(durable: 1, applied: 0, budgetBytes: 0)
        #expect(t.version(of: 1, at: 1)?.image == image(1), "no image in the journal: kept")
        #expect(t.version(of: 2, at: 1)?.image == nil, "an image in the journal: dropped")
        #expect(t.imageBytes == Self.pageBytes)
        t.removeApplied(t.versionsToApply(horizon: 1))
        #expect(t.imageBytes == 0 && t.versionCount == 0)
    }

    @Test("past the image budget, only durable versions drop their copies, oldest first, and they stay in the table")
    func budgetDropsDurableCopiesOldestFirst() {
        var t = table(commits: [(1, [1]), (2, [2]), (3, [3]), (4, [4])])
        t.dropDurableCopies(durable: 2, applied: 0, budgetBytes: 0)
        #expect(t.version(of: 1, at: 4)?.image == nil)
        #expect(t.version(of: 2, at: 4)?.image == nil)
        #expect(t.version(of: 3, at: 4)?.image == image(3), "not durable: the copy stays (S3)")
        #expect(t.imageBytes == 2 * Self.pageBytes)
        #expect(t.versionCount == 4, "a version without its copy is still in the table")

        t.dropDurableCopies(durable: 4, applied: 0, budgetBytes: Self.pageBytes)
        #expect(t.version(of: 3, at: 4)?.image == nil, "the older durable copy goes first")
        #expect(t.version(of: 4, at: 4)?.image == image(4), "within the budget: kept")
        #expect(t.imageBytes == Self.pageBytes)
    }

    @Test("apply takes each page's newest version at or below the horizon and drops it with every older one")
    func applyDropsUpToTheHorizon() {
        var t = table(commits: [(1, [1, 2]), (2, [1]), (3, [1, 3])])
        let work = t.versionsToApply(horizon: 2)
        #expect(Dictionary(uniqueKeysWithValues: work.map { ($0.page, $0.version.lsn) }) == [1: 2, 2: 1])
        t.removeApplied(work)
        #expect(t.allVersions(above: 2), "S1")
        #expect(t.versionCount == 2)
        #expect(t.imageBytes == 2 * Self.pageBytes)
        #expect(t.version(of: 1, at: 2) == nil, "applied: read from the data file")
        #expect(t.version(of: 1, at: 3)?.lsn == 3)
        #expect(t.version(of: 2, at: 3) == nil)
        #expect(t.version(of: 3, at: 3)?.lsn == 3)
    }

    @Test("a commit already applied is passed over by the image budget")
    func budgetPassesOverAppliedCommits() {
        var t = table(commits: [(1, [1]), (2, [1])])
        t.removeApplied(t.versionsToApply(horizon: 2))
        #expect(t.versionCount == 0)
        #expect(t.imageBytes == 0)
        t.dropDurableCopies(durable: 2, applied: 2, budgetBytes: 0)
        #expect(t.imageBytes == 0, "nothing counted twice")
        t.publish(lsn: 3, pages: [(number: 1, image: image(3), offset: 40)])
        t.dropDurableCopies(durable: 2, applied: 2, budgetBytes: 0)
        #expect(t.version(of: 1, at: 3)?.image == image(3), "not durable yet")
        t.dropDurableCopies(durable: 3, applied: 2, budgetBytes: 0)
        #expect(t.version(of: 1, at: 3)?.image == nil)
        #expect(t.imageBytes == 0)
    }
}
