import Foundation
import Journal
import JournalFileStorage
import KeyValueStore
import PageStore
import TestSupport
import Testing

@Suite("Key-value store: read-only readers beside a writer")
struct KeyValueReadOnlyTests {
    static func key(_ i: Int) -> [UInt8] { Array(String(format: "k%06d", i).utf8) }

    /// A writer on files puts k000001, k000002, ... one durable put each,
    /// with checkpoints; a reader following it scans after each step: each
    /// scan is exactly k000001 ... k00000n for an n that never decreases,
    /// and the reader reaches the last put (woken by `updates()`).
    @Test func scansArePrefixesOfThePuts() async throws {
        let dir = TemporaryDirectory(on: .shm, "kv-reader")
        var fs = FileSystemStorage.Options()
        fs.directIO = false
        let location = try PageStoreLocation.directory(path: dir.path + "/store", options: fs, create: true)
        var configuration = PageStoreConfiguration()
        configuration.pageCountMax = 1 << 12
        configuration.journal.segmentBytes = 64 << 10
        configuration.journal.recordBytesMax = 16 << 10
        try KeyValueStore.create(location: location, configuration: configuration)
        var o = PageStoreOptions()
        o.journalRetention = .newestSnapshot
        o.logger.logLevel = .warning
        o.journal.logger.logLevel = .warning
        let kv = try KeyValueStore.open(location: location, options: o)
        defer { kv.close() }
        var r = PageStoreReadOptions()
        r.store.logger.logLevel = .warning
        let reader = try KeyValueStore.openReadOnly(location: try PageStoreLocation.directory(path: dir.path + "/store", options: fs), options: r)
        defer { reader.close() }
        var updates = try reader.updates().makeAsyncIterator()
        var last = 0
        var put = 0
        for round in 0..<8 {
            for _ in 0..<60 {
                put += 1
                try await kv.put(Self.key(put), Array("value \(put)".utf8))
            }
            if round % 3 == 2 { try kv.checkpoint() }
            let target = kv.durableLSN
            while reader.lsn < target {
                guard try await updates.next() != nil else { break }
                let keys = try reader.withSnapshot { s throws(KeyValueError) -> [[UInt8]] in
                    var keys: [[UInt8]] = []
                    try s.scan { k, _ in
                        keys.append(k)
                        return true
                    }
                    return keys
                }
                #expect(keys == (0..<keys.count).map { Self.key($0 + 1) }, "a prefix of the puts")
                #expect(keys.count >= last, "never goes back")
                last = keys.count
            }
        }
        #expect(last == put, "the reader reaches the last put")
        #expect(try reader.get(Self.key(put)) == Array("value \(put)".utf8))
        #expect(try reader.get(Self.key(put + 1)) == nil)
    }
}
