import CSQLite

#if canImport(Glibc)
import Glibc
#endif

/// SQLite as a log, as a peer of the journal: one table of blobs in WAL
/// mode, one connection per appender thread, each commit one autocommit
/// `INSERT` of the record. `synchronous=FULL` syncs the WAL on every commit
/// (durable); `synchronous=NORMAL` syncs only at checkpoints (a commit can
/// be lost on power failure, not on a crash of the process). Writers
/// serialize on SQLite's write lock; a busy writer waits through SQLite's
/// own busy handler (60 s timeout), as an application would configure it.
final class SQLiteLog: @unchecked Sendable {
    // @unchecked: connection i is used only by appender thread i.

    enum Synchronous: String, Sendable {
        case full = "FULL"
        case normal = "NORMAL"
    }

    let path: String
    private var connections: [LogConnection] = []

    init(path: String, synchronous: Synchronous, connections count: Int) throws(BenchError) {
        self.path = path
        let setup = try LogConnection(path: path)
        try setup.exec("PRAGMA journal_mode=WAL")
        try setup.exec("CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        for _ in 0..<count {
            let c = try LogConnection(path: path)
            try c.exec("PRAGMA synchronous=\(synchronous.rawValue)")
            try c.prepareInsert()
            connections.append(c)
        }
    }

    /// One durable (FULL) or committed (NORMAL) insert on connection `worker`.
    func append(_ worker: Int, _ record: UnsafeRawBufferPointer) throws(BenchError) {
        try connections[worker].insert(record)
    }

    /// Removes the database and its WAL and shared-memory files.
    static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { _ = unlink(path + suffix) }
    }
}

private final class LogConnection {
    private var db: OpaquePointer?
    private var insertStatement: OpaquePointer?

    init(path: String) throws(BenchError) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw BenchError("SQLite: cannot open \(path): \(message)")
        }
        sqlite3_busy_timeout(db, 60_000)
    }

    deinit {
        sqlite3_finalize(insertStatement)
        sqlite3_close(db)
    }

    private var message: String { String(cString: sqlite3_errmsg(db)) }

    func exec(_ sql: String) throws(BenchError) {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw BenchError("SQLite: \(sql): \(message)") }
    }

    func prepareInsert() throws(BenchError) {
        guard sqlite3_prepare_v2(db, "INSERT INTO log (payload) VALUES (?)", -1, &insertStatement, nil) == SQLITE_OK else {
            throw BenchError("SQLite prepare: \(message)")
        }
    }

    func insert(_ record: UnsafeRawBufferPointer) throws(BenchError) {
        sqlite3_bind_blob(insertStatement, 1, record.baseAddress, Int32(record.count), nil)
        let rc = sqlite3_step(insertStatement)
        sqlite3_reset(insertStatement)
        guard rc == SQLITE_DONE else { throw BenchError("SQLite insert: \(message)") }
    }
}
