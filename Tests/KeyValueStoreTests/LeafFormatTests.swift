import JournalPrimitives
@_spi(Testing) import JournalTesting
import KeyValueStore
import PageStore
import StoreCrashTesting
import Testing

/// Pages of the key-value store's format version 1 (Docs/page-store.md,
/// "Key-value store", "Versions"), built from the document: a meta page and
/// packed leaves (kind 1), under an internal root when there are several.
enum VersionOneTree {
    static func meta(root: UInt64, nextPage: UInt64, count: Int, version: UInt16 = 1) -> [UInt8] {
        var page = [UInt8](repeating: 0, count: 4096)
        page.withUnsafeMutableBytes { b in
            b.storeLE32(0x544D_564B, at: 0)
            b.storeLE16(version, at: 4)
            b.storeLE64(root, at: 8)
            b.storeLE64(nextPage, at: 16)
            b.storeLE64(UInt64(count), at: 24)
        }
        return page
    }

    static func packedLeaf(_ entries: [([UInt8], [UInt8])], next: UInt64) -> [UInt8] {
        var page = [UInt8](repeating: 0, count: 4096)
        page[0] = 1
        page.withUnsafeMutableBytes { b in
            b.storeLE16(UInt16(entries.count), at: 2)
            b.storeLE64(next, at: 8)
        }
        var at = 16
        for (k, v) in entries {
            page.withUnsafeMutableBytes { b in
                b.storeLE16(UInt16(k.count), at: at)
                b.storeLE16(UInt16(v.count), at: at + 2)
            }
            page.replaceSubrange((at + 4)..<(at + 4 + k.count + v.count), with: k + v)
            at += 4 + k.count + v.count
        }
        precondition(at <= 4096)
        return page
    }

    static func internalNode(children: [UInt64], separators: [[UInt8]]) -> [UInt8] {
        var page = [UInt8](repeating: 0, count: 4096)
        page[0] = 2
        page.withUnsafeMutableBytes { b in
            b.storeLE16(UInt16(separators.count), at: 2)
            b.storeLE64(children[0], at: 16)
        }
        var at = 24
        for (i, k) in separators.enumerated() {
            page.withUnsafeMutableBytes { b in b.storeLE16(UInt16(k.count), at: at) }
            page.replaceSubrange((at + 2)..<(at + 2 + k.count), with: k)
            page.withUnsafeMutableBytes { b in b.storeLE64(children[i + 1], at: at + 2 + k.count) }
            at += 2 + k.count + 8
        }
        return page
    }

    /// Writes `pages` into the store at `location` in one transaction.
    static func write(_ pages: [UInt64: [UInt8]], to location: PageStoreLocation) throws {
        let store = try PageStore.open(location: location, options: simOptions())
        defer { store.close() }
        let tx = try store.beginWrite()
        for (number, page) in pages { try tx.write(page: number, page) }
        _ = try tx.commit()
    }

    static func page(_ number: UInt64, of location: PageStoreLocation) throws -> [UInt8] {
        let store = try PageStore.open(location: location, options: simOptions())
        defer { store.close() }
        let tx = try store.beginRead()
        defer { tx.end() }
        return try tx.read(page: number)
    }
}

@Suite("Key-value store: leaf formats")
struct LeafFormatTests {
    /// Two full packed leaves (36 entries of 110 bytes: more than a page
    /// once slotted) under an internal root, as version 1 wrote them.
    static func versionOneStore() throws -> (SimulatedDisk, PageStoreLocation, [[UInt8]: [UInt8]]) {
        let disk = SimulatedDisk(seed: 5)
        let location = PageStoreLocation(sharing: disk.storage())
        try KeyValueStore.create(location: location, configuration: simConfiguration())
        let entries = (0..<72).map { (name($0 * 2), [UInt8](repeating: UInt8($0), count: 100)) }
        let left = Array(entries[..<36]), right = Array(entries[36...])
        try VersionOneTree.write([
            0: VersionOneTree.meta(root: 3, nextPage: 4, count: entries.count),
            1: VersionOneTree.packedLeaf(left, next: 2),
            2: VersionOneTree.packedLeaf(right, next: 0),
            3: VersionOneTree.internalNode(children: [1, 2], separators: [right[0].0]),
        ], to: location)
        return (disk, location, Dictionary(uniqueKeysWithValues: entries))
    }

    @Test("a store of packed leaves (version 1) is read, written (its leaves become slotted, its meta page version 2) and read again")
    func readsAndUpgradesVersionOne() throws {
        let (_, location, expected) = try Self.versionOneStore()
        var model = expected
        do {
            let kv = try KeyValueStore.open(location: location, options: simOptions())
            defer { kv.close() }
            #expect(try kv.contents() == model)
            #expect(try kv.get(name(10)) == [UInt8](repeating: 5, count: 100))
            #expect(try kv.get(name(11)) == nil)
            #expect(try kv.verifyStructure().leafPages == 2)
            // Into the first leaf only: it splits, the second stays packed.
            for i in [1, 3, 5] {
                try kv.put(name(i), [7])
                model[name(i)] = [7]
            }
            #expect(try kv.contents() == model)
            _ = try kv.verifyStructure()
        }
        #expect(try VersionOneTree.page(0, of: location)[4] == 2, "meta version 2")
        #expect(try VersionOneTree.page(1, of: location)[0] == 4, "the written leaf is slotted")
        #expect(try VersionOneTree.page(2, of: location)[0] == 1, "the leaf not written stays packed")
        let kv = try KeyValueStore.open(location: location, options: simOptions())
        defer { kv.close() }
        #expect(try kv.contents() == model)
        for (k, v) in model { #expect(try kv.get(k) == v, "\(k)") }
        _ = try kv.verifyStructure()
    }

    @Test("splits journal the new leaf as a delta and the left leaf's header and slots: random puts journal under 400 bytes each on average")
    func splitsJournalDeltas() throws {
        let disk = SimulatedDisk(seed: 9)
        let location = PageStoreLocation(sharing: disk.storage())
        try KeyValueStore.create(location: location, configuration: simConfiguration())
        let kv = try KeyValueStore.open(location: location, options: simOptions())
        defer { kv.close() }
        var random = SplitMix64(seed: 10)
        var recordBytes: [Int] = []
        for i in 0..<1500 {
            let before = kv.statistics.pageStore.committedRecordBytes
            try kv.put(name(random.below(100_000)), [UInt8](repeating: UInt8(i % 251), count: 100))
            recordBytes.append(kv.statistics.pageStore.committedRecordBytes - before)
        }
        let leaves = try kv.verifyStructure().leafPages
        // Each split journals about half a page (the moved half as a
        // delta); a whole page only where a leaf is compacted, rarely.
        let splits = recordBytes.filter { (1_024..<4_096).contains($0) }.count
        let wholePages = recordBytes.filter { $0 >= 4_096 }.count
        #expect(splits >= leaves - 1 - wholePages, "\(leaves) leaves, \(splits) puts of half a page")
        #expect(wholePages <= recordBytes.count / 50, "\(wholePages) puts journaled a whole page")
        #expect(recordBytes.reduce(0, +) / recordBytes.count < 400, "mean record bytes per put")
    }

    @Test("a meta page of a version above 2 is refused with newerFormat")
    func refusesANewerVersion() throws {
        let disk = SimulatedDisk(seed: 6)
        let location = PageStoreLocation(sharing: disk.storage())
        try KeyValueStore.create(location: location, configuration: simConfiguration())
        try VersionOneTree.write([
            0: VersionOneTree.meta(root: 1, nextPage: 2, count: 0, version: 3),
            1: VersionOneTree.packedLeaf([], next: 0),
        ], to: location)
        let kv = try KeyValueStore.open(location: location, options: simOptions())
        defer { kv.close() }
        #expect(throws: KeyValueError.newerFormat(found: 3, supported: 2)) { try kv.get(name(1)) }
    }

    @Test("puts in random key order journal the new entry and a few slot bytes, not the leaf's tail; deletes and value changes keep the tree whole")
    func putsJournalSmallDeltas() throws {
        let disk = SimulatedDisk(seed: 7)
        let location = PageStoreLocation(sharing: disk.storage())
        try KeyValueStore.create(location: location, configuration: simConfiguration())
        var model: [[UInt8]: [UInt8]] = [:]
        var random = SplitMix64(seed: 8)
        let kv = try KeyValueStore.open(location: location, options: simOptions())
        var recordBytes: [Int] = []
        for i in 0..<600 {
            let k = name(random.below(100_000)), v = [UInt8](repeating: UInt8(i % 251), count: 100)
            let before = kv.statistics.pageStore.committedRecordBytes
            try kv.put(k, v)
            recordBytes.append(kv.statistics.pageStore.committedRecordBytes - before)
            model[k] = v
            if i % 5 == 0, let victim = model.keys.min(by: { $0.lexicographicallyPrecedes($1) }) {
                #expect(try kv.delete(victim))
                model[victim] = nil
            }
            if i % 7 == 0, let some = model.keys.first {
                let grown = [UInt8](repeating: 9, count: 50 + random.below(100))
                try kv.put(some, grown)
                model[some] = grown
            }
        }
        // Most puts change no leaf's layout: a record of the entry (110
        // bytes), the moved slots, the count and the meta page's key count.
        let sorted = recordBytes.sorted()
        #expect(sorted[sorted.count / 2] < 320, "median record bytes per put: \(sorted[sorted.count / 2])")
        #expect(try kv.contents() == model)
        _ = try kv.verifyStructure()
        kv.close()
        let reopened = try KeyValueStore.open(location: location, options: simOptions())
        defer { reopened.close() }
        #expect(try reopened.contents() == model)
        _ = try reopened.verifyStructure()
    }
}
