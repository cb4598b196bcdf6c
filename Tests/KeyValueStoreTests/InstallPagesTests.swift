import Journal
import JournalTesting
import KeyValueStore
import PageStore
import StoreCrashTesting
import Testing

@Suite("Key-value store: exporting its pages and installing them in another store")
struct InstallPagesTests {
    /// Puts `count` keys (from `seed`) into `kv`, and deletes every fifth.
    func fill(_ kv: KeyValueStore, seed: UInt8, count: Int) throws {
        for i in 0..<count {
            let key = [seed, UInt8(i & 0xFF), UInt8(i >> 8)]
            try kv.put(key, Array(repeating: seed &+ UInt8(i & 0x3F), count: 20 + i % 90))
            if i % 5 == 4 { _ = try kv.delete([seed, UInt8((i - 2) & 0xFF), UInt8((i - 2) >> 8)]) }
        }
    }

    /// A store on a fresh disk holding the keys of `seed`.
    func store(seed: UInt8, count: Int) throws -> (disk: SimulatedDisk, contents: [[UInt8]: [UInt8]]) {
        let disk = SimulatedDisk(seed: UInt64(seed))
        try KeyValueStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: simConfiguration())
        let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions())
        defer { kv.close() }
        try fill(kv, seed: seed, count: count)
        try kv.checkpoint()
        try fill(kv, seed: seed &+ 1, count: count / 4)
        return (disk, try kv.contents())
    }

    /// The pages of a store of 600 keys, and its contents.
    func source() throws -> (pages: KeyValuePages, contents: [[UInt8]: [UInt8]]) {
        let (disk, contents) = try store(seed: 40, count: 600)
        let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions())
        defer { kv.close() }
        let pages = try kv.exportPages()
        #expect(pages.pageCount > 10)
        return (pages, contents)
    }

    @Test("installed pages give exactly the exported contents, across a restart and with writes after them")
    func roundTrip() throws {
        let (pages, contents) = try source()
        let (disk, old) = try store(seed: 7, count: 300)
        #expect(old != contents)
        try pages.bytes.withUnsafeBytes { b in
            try KeyValueStore.installPages(b, pageBytes: pages.pageBytes, location: PageStoreLocation(sharing: disk.storage()), options: simOptions())
        }
        var kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions())
        #expect(try kv.contents() == contents)
        _ = try kv.verifyStructure()
        #expect(kv.statistics.pageStore.journalSegmentCount <= 2, "the journal was truncated behind the installed pages")
        try kv.put([1, 2, 3], [4])
        _ = try kv.delete(try #require(contents.keys.first))
        var expected = contents
        expected[[1, 2, 3]] = [4]
        expected[try #require(contents.keys.first)] = nil
        kv.close()
        kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions())
        defer { kv.close() }
        #expect(try kv.contents() == expected)
        _ = try kv.verifyStructure()
    }

    @Test("pages of another page size, or without a meta page, are refused and the store is left as it was")
    func refusals() throws {
        let (pages, _) = try source()
        let (disk, old) = try store(seed: 8, count: 100)
        let location = PageStoreLocation(sharing: disk.storage())
        #expect(throws: KeyValueError.self) {
            try pages.bytes.withUnsafeBytes { try KeyValueStore.installPages($0, pageBytes: pages.pageBytes * 2, location: location, options: simOptions()) }
        }
        #expect(throws: KeyValueError.self) {
            try [UInt8](repeating: 7, count: pages.pageBytes).withUnsafeBytes {
                try KeyValueStore.installPages($0, pageBytes: pages.pageBytes, location: location, options: simOptions())
            }
        }
        let kv = try KeyValueStore.open(location: location, options: simOptions())
        defer { kv.close() }
        #expect(try kv.contents() == old)
    }

    @Test("a power cut at every I/O boundary of an install leaves the old contents or the new, and installing again after it gives the new")
    func powerCutAtEveryBoundary() throws {
        let (pages, contents) = try source()
        let (probe, old) = try store(seed: 9, count: 200)
        let start = probe.ioCount
        try pages.bytes.withUnsafeBytes { b in
            try KeyValueStore.installPages(b, pageBytes: pages.pageBytes, location: PageStoreLocation(sharing: probe.storage()), options: simOptions())
        }
        let boundaries = probe.ioCount - start
        #expect(boundaries > 5)
        var outcomes = (old: 0, new: 0)
        for boundary in 0..<boundaries {
            let (disk, _) = try store(seed: 9, count: 200)
            disk.cutAfter(ioBoundary: disk.ioCount + boundary)
            #expect(throws: (any Error).self, "boundary \(boundary) cuts the install") {
                try pages.bytes.withUnsafeBytes { b in
                    try KeyValueStore.installPages(b, pageBytes: pages.pageBytes, location: PageStoreLocation(sharing: disk.storage()), options: simOptions())
                }
            }
            let storage = disk.reboot()
            let recovered = try KeyValueStore.open(location: PageStoreLocation(sharing: storage), options: simOptions())
            let found = try recovered.contents()
            _ = try recovered.verifyStructure()
            recovered.close()
            #expect(found == old || found == contents, "boundary \(boundary): a mix of the two states")
            if found == old { outcomes.old += 1 } else if found == contents { outcomes.new += 1 }
            // The node installs again at its next start: that completes it.
            try pages.bytes.withUnsafeBytes { b in
                try KeyValueStore.installPages(b, pageBytes: pages.pageBytes, location: PageStoreLocation(sharing: storage), options: simOptions())
            }
            let again = try KeyValueStore.open(location: PageStoreLocation(sharing: storage), options: simOptions())
            #expect(try again.contents() == contents, "boundary \(boundary): installing again")
            again.close()
            #expect(disk.contractViolations.isEmpty)
        }
        #expect(outcomes.old > 0 && outcomes.new > 0, "cuts landed before and after the commit point: \(outcomes)")
    }
}
