import Foundation
import Testing
@testable import JournalBench

/// The RocksDB peer of `bench kv` really stores: puts read back, across a
/// close and reopen (its WAL replayed), and a missing key reads as nil.
@Suite struct RocksDBPeerTests {
    @Test func putsReadBackAcrossAReopen() throws {
        let path = NSTemporaryDirectory() + "rocksdb-peer-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { RocksDBPeer.destroy(path) }
        do {
            let db = try RocksDBPeer(path: path)
            for i in 0..<100 {
                #expect(db.put(benchKey(i % 4, i), [UInt8](repeating: UInt8(i), count: 100)) == nil)
            }
            #expect(try db.get(benchKey(1, 1)) == [UInt8](repeating: 1, count: 100))
            #expect(try db.get(Array("absent".utf8)) == nil)
        }
        let reopened = try RocksDBPeer(path: path)
        for i in 0..<100 {
            #expect(try reopened.get(benchKey(i % 4, i)) == [UInt8](repeating: UInt8(i), count: 100))
        }
        #expect(try reopened.get(benchKey(0, 1)) == nil)
    }

    @Test func destroyRemovesTheDatabase() throws {
        let path = NSTemporaryDirectory() + "rocksdb-peer-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let db = try RocksDBPeer(path: path)
            #expect(db.put(Array("k".utf8), Array("v".utf8)) == nil)
        }
        #expect(FileManager.default.fileExists(atPath: path))
        RocksDBPeer.destroy(path)
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
