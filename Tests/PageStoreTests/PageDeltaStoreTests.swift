@_spi(Testing) import Journal
import JournalPrimitives
import JournalTesting
@testable import PageStore
import Testing

/// The store journaling page deltas: reads, applies, checkpoints and
/// recovery see the same pages as with whole images; a corrupt delta in the
/// journal fails recovery with `corruption`.
@Suite("Page store: journaling page deltas")
struct PageDeltaStoreTests {
    func open(_ disk: SimulatedDisk, deltas: Bool = true) throws -> PageStore {
        var o = manualOptions(applyThreshold: 8)
        o.journalPageDeltas = deltas
        o.logger.logLevel = .warning
        o.journal.logger.logLevel = .warning
        return try PageStore.open(location: PageStoreLocation(sharing: disk.storage()), options: o)
    }

    func createStore(on disk: SimulatedDisk) throws {
        var config = smallConfiguration(pageCountMax: 64, recordBytesMax: 16 << 10)
        config.journal.segmentBytes = 64 << 10
        try PageStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: config)
    }

    /// `commits` transactions, each changing a few bytes of two or three of
    /// 12 pages (read, edit, write); checkpoints now and then. Returns the
    /// model of every page.
    func run(_ store: PageStore, commits: Int, seed: UInt64, model: inout [UInt64: [UInt8]]) throws {
        var rng = SplitMix64(seed: seed)
        for n in 0..<commits {
            let tx = try store.beginWrite()
            for _ in 0..<(2 + n % 2) {
                let p = rng.next() % 12
                var image = try tx.read(page: p)
                let at = Int(rng.next() % 4000)
                for i in at..<(at + Int(rng.next() % 90) + 1) { image[i] = UInt8(truncatingIfNeeded: rng.next()) }
                if n % 17 == 0 { image = (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }  // a whole new page
                try tx.write(page: p, image)
                model[p] = image
            }
            try tx.commit()
            if n % 25 == 24 { try store.checkpoint() }
        }
    }

    func check(_ store: PageStore, _ model: [UInt64: [UInt8]]) throws {
        let r = try store.beginRead()
        for p in UInt64(0)..<12 { #expect(try r.read(page: p) == (model[p] ?? [UInt8](repeating: 0, count: 4096)), "page \(p)") }
    }

    @Test("reads, applies, checkpoints and recovery give the pages the deltas describe; the records are far smaller")
    func deltasRecover() throws {
        var bytes: [Bool: Int] = [:]
        for deltas in [true, false] {
            let disk = SimulatedDisk(seed: 11)
            try createStore(on: disk)
            var model: [UInt64: [UInt8]] = [:]
            let store = try open(disk, deltas: deltas)
            try run(store, commits: 110, seed: 3, model: &model)
            try check(store, model)
            bytes[deltas] = store.statistics.committedRecordBytes
            store.close()
            let reopened = try open(disk, deltas: deltas)
            #expect(reopened.recoveryReport.replayedTransactions > 0, "some commits come from the journal")
            try check(reopened, model)
            try run(reopened, commits: 30, seed: 4, model: &model)
            reopened.close()
            let third = try open(disk, deltas: !deltas)
            try check(third, model)
            third.close()
        }
        let withDeltas = try #require(bytes[true]), whole = try #require(bytes[false])
        #expect(withDeltas * 3 < whole, "deltas \(withDeltas) bytes, whole images \(whole)")
    }

    @Test("a commit that writes inline is durable when it returns, with nothing pumped; a lazy one is not")
    func inlineCommit() throws {
        let disk = SimulatedDisk(seed: 13)
        try createStore(on: disk)
        let store = try open(disk)
        defer { store.close() }
        for n in UInt64(1)...6 {
            let inline = n % 2 == 0
            let tx = try store.beginWrite()
            try tx.write(page: n, page(n))
            let lsn = try tx.commitLazy(writingInlineFrom: inline ? .thread : nil)
            #expect((store.durableLSN == lsn) == inline, "commit \(n), inline \(inline)")
            try store.waitUntilDurable(lsn)
        }
        let r = try store.beginRead()
        for n in UInt64(1)...6 { #expect(value(of: try r.read(page: n)) == n) }
    }

    @Test("a delta range past the page in the journal fails recovery with corruption")
    func corruptDeltaInJournal() throws {
        let disk = SimulatedDisk(seed: 12)
        try createStore(on: disk)
        do {
            let store = try open(disk)
            var model: [UInt64: [UInt8]] = [:]
            try run(store, commits: 3, seed: 5, model: &model)
            // A record the encoder never writes: one range ends past the page.
            var body = [UInt8](repeating: 0, count: 16 + 16)
            body.withUnsafeMutableBytes { b in
                b.storeLE64(1, at: 0)  // page 1
                b.storeLE16(1, at: 8)  // a delta
                b.storeLE32(16, at: 12)
                b.storeLE32(4095, at: 16)  // 8 bytes from offset 4095
                b.storeLE32(8, at: 20)
            }
            let record = handMadeRecord(version: 2, txid: 99, pageCount: 1, after: body)
            let lsn = try store.journal.enqueue(record)
            try store.waitUntilDurable(lsn)
            store.close()
        }
        #expect {
            _ = try open(disk)
        } throws: { error in
            guard case PageStoreError.corruption(let file, let detail) = error else { return false }
            return file.hasPrefix("journal record") && detail.contains("past the page")
        }
    }
}
