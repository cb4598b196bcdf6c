import CRocksDB

#if canImport(Glibc)
import Glibc
#endif

/// RocksDB as a peer of the key-value store in `bench kv`, through its C
/// API (Debian's librocksdb-dev). Default options except
/// `create_if_missing`; every put is written with `WriteOptions.sync =
/// true` and the WAL on (its default), so a put is durable when it
/// returns, as ours is. Concurrent writers share the one database handle
/// (thread-safe): RocksDB groups their writes itself.
final class RocksDBPeer: @unchecked Sendable {
    // @unchecked: rocksdb_t and the option handles are thread-safe once made.

    let path: String
    private let db: OpaquePointer
    private let options: OpaquePointer
    private let syncWrite: OpaquePointer
    private let read: OpaquePointer

    /// Opens (creating it if missing) the database in directory `path`.
    init(path: String) throws(BenchError) {
        self.path = path
        guard let options = rocksdb_options_create(), let syncWrite = rocksdb_writeoptions_create(),
              let read = rocksdb_readoptions_create() else { throw BenchError("RocksDB: out of memory") }
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_writeoptions_set_sync(syncWrite, 1)
        var error: UnsafeMutablePointer<CChar>?
        let db = rocksdb_open(options, path, &error)
        guard let db, error == nil else {
            rocksdb_options_destroy(options)
            rocksdb_writeoptions_destroy(syncWrite)
            rocksdb_readoptions_destroy(read)
            throw BenchError("RocksDB: cannot open \(path): \(Self.take(error))")
        }
        self.db = db
        self.options = options
        self.syncWrite = syncWrite
        self.read = read
    }

    deinit {
        rocksdb_close(db)
        rocksdb_options_destroy(options)
        rocksdb_writeoptions_destroy(syncWrite)
        rocksdb_readoptions_destroy(read)
    }

    /// One durable put (sync write through the WAL); nil on success, the
    /// error otherwise.
    func put(_ key: [UInt8], _ value: [UInt8]) -> String? {
        var error: UnsafeMutablePointer<CChar>?
        key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                rocksdb_put(db, syncWrite, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count,
                            v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count, &error)
            }
        }
        return error.map { Self.take($0) }
    }

    /// The value stored under `key`, nil when there is none.
    func get(_ key: [UInt8]) throws(BenchError) -> [UInt8]? {
        var error: UnsafeMutablePointer<CChar>?
        var length = 0
        let found = key.withUnsafeBytes { k in
            rocksdb_get(db, read, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count, &length, &error)
        }
        if let error { throw BenchError("RocksDB get: \(Self.take(error))") }
        guard let found else { return nil }
        defer { rocksdb_free(found) }
        return [UInt8](UnsafeRawBufferPointer(start: found, count: length))
    }

    /// Removes the database directory `path` and every file in it.
    static func destroy(_ path: String) {
        guard let options = rocksdb_options_create() else { return }
        defer { rocksdb_options_destroy(options) }
        var error: UnsafeMutablePointer<CChar>?
        rocksdb_destroy_db(options, path, &error)
        if let error { rocksdb_free(error) }
        rmdir(path)
    }

    /// The text of a RocksDB error string, which it frees.
    private static func take(_ error: UnsafeMutablePointer<CChar>?) -> String {
        guard let error else { return "unknown error" }
        defer { rocksdb_free(error) }
        return String(cString: error)
    }
}
