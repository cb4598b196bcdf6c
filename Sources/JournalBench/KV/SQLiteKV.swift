import CSQLite
import JournalCLISupport

#if canImport(Glibc)
import Glibc
#endif

/// One SQLite connection of `bench kv` with its prepared statements: a
/// `kv` table (`WITHOUT ROWID`), `INSERT OR REPLACE` puts and point selects.
final class SQLiteKV: @unchecked Sendable {
    private var db: OpaquePointer?
    private var insertStatement: OpaquePointer?
    private var selectStatement: OpaquePointer?

    init?(path: String) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK else { return nil }
        sqlite3_busy_timeout(db, 60_000)
    }

    deinit {
        sqlite3_finalize(insertStatement)
        sqlite3_finalize(selectStatement)
        sqlite3_close(db)
    }

    var message: String { String(cString: sqlite3_errmsg(db)) }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw CLIError(.ioError, "SQLite: \(sql): \(message)") }
    }

    func prepareInsert() throws {
        guard sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", -1, &insertStatement, nil) == SQLITE_OK else {
            throw CLIError(.ioError, "SQLite prepare: \(message)")
        }
    }

    func prepareSelect() throws {
        guard sqlite3_prepare_v2(db, "SELECT v FROM kv WHERE k = ?", -1, &selectStatement, nil) == SQLITE_OK else {
            throw CLIError(.ioError, "SQLite prepare: \(message)")
        }
    }

    /// One autocommit insert; nil on success, the error otherwise.
    func insert(_ key: [UInt8], _ value: [UInt8]) -> String? {
        let rc = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                sqlite3_bind_blob(insertStatement, 1, k.baseAddress, Int32(k.count), nil)
                sqlite3_bind_blob(insertStatement, 2, v.baseAddress, Int32(v.count), nil)
                let rc = sqlite3_step(insertStatement)
                sqlite3_reset(insertStatement)
                return rc
            }
        }
        return rc == SQLITE_DONE ? nil : message
    }

    func select(_ key: [UInt8]) -> Bool {
        key.withUnsafeBytes { k in
            sqlite3_bind_blob(selectStatement, 1, k.baseAddress, Int32(k.count), nil)
            let rc = sqlite3_step(selectStatement)
            let found = rc == SQLITE_ROW && sqlite3_column_bytes(selectStatement, 0) > 0
            sqlite3_reset(selectStatement)
            return found
        }
    }
}
