public import Journal
public import JournalStorage
public import PagedFile

/// Every way a page-store operation can fail, in words a user can act on.
public enum PageStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The journal refused or failed (the journal's own error, unchanged).
    case journal(JournalError)
    /// A storage operation on a snapshot or the store metadata failed.
    case io(StorageError)
    /// The RAM data file refused (its pool is full, or it was closed).
    case dataFile(PagedFileError)
    /// `create` was asked for a directory that already holds a store.
    case alreadyExists(path: String)
    /// The directory holds no store (no `store.meta`).
    case notAStore(path: String, reason: String)
    /// Another process, or another `PageStore` in this one, holds the store.
    case locked(path: String)
    /// A file written by a newer version of the format than this code reads.
    case newerFormat(file: String, found: UInt32, supported: UInt32)
    /// A page number at or past the store's `pageCountMax`.
    case pageOutOfRange(page: UInt64, pageCountMax: UInt64)
    /// A page image whose size is not the store's page size.
    case wrongPageSize(bytes: Int, pageBytes: Int)
    /// The transaction's record would exceed the journal's largest record.
    /// Nothing of it was written or published.
    case transactionTooLarge(pages: Int, recordBytes: Int, recordBytesMax: Int)
    /// Optimistic concurrency: a transaction committed since this one began
    /// wrote a page this one writes. Nothing was written; retry.
    case conflict(page: UInt64)
    /// A snapshot or a journaled transaction failed validation.
    case corruption(file: String, detail: String)
    /// The newest usable snapshot is older than the journal's first record:
    /// the commits between them are lost.
    case journalDoesNotCoverSnapshot(snapshotLSN: LSN, journalFirstLSN: LSN)
    /// The transaction was already committed or aborted.
    case transactionFinished
    /// The store was closed.
    case closed
    /// An argument or configuration out of its domain; the text names it.
    case invalidArgument(String)
    /// A read-only open or refresh found the store changed under it (a
    /// slot rewritten, the journal truncated past its position) on every
    /// one of `attempts` tries; `reason` is the last. Nothing was shown.
    case readerOvertaken(attempts: Int, reason: String)

    /// One line naming what failed and where.
    public var description: String {
        switch self {
        case .journal(let e): "journal: \(e)"
        case .io(let e): "I/O error: \(e)"
        case .dataFile(let e): "data file: \(e)"
        case .alreadyExists(let p): "a page store already exists in \(p)"
        case .notAStore(let p, let r): "not a page store: \(p) (\(r))"
        case .locked(let p): "page store \(p) is in use by another process"
        case .newerFormat(let f, let found, let s): "\(f) uses format version \(found); this build reads up to \(s)"
        case .pageOutOfRange(let p, let m): "page \(p) is beyond the store's limit of \(m) pages"
        case .wrongPageSize(let b, let p): "a page image of \(b) bytes; the store's pages are \(p) bytes"
        case .transactionTooLarge(let n, let b, let m):
            "a transaction of \(n) pages needs a \(b)-byte journal record; the journal's maximum is \(m) bytes"
        case .conflict(let p): "conflict: page \(p) was written by a transaction that committed after this one began"
        case .corruption(let f, let d): "corruption in \(f): \(d)"
        case .journalDoesNotCoverSnapshot(let s, let f):
            "the newest valid snapshot is at LSN \(s) but the journal starts at LSN \(f): commits in between are lost"
        case .transactionFinished: "the transaction was already committed or aborted"
        case .closed: "page store is closed"
        case .invalidArgument(let m): "invalid argument: \(m)"
        case .readerOvertaken(let n, let r): "the store changed under the read-only reader on each of \(n) tries (last: \(r)); try again"
        }
    }

    /// A storage failure of the store's own files.
    static func from(_ error: StorageError) -> PageStoreError {
        if error.errno == .wouldBlock && error.operation == "flock" { return .locked(path: error.path) }
        return .io(error)
    }

    /// A journal failure; the journal's lock is the store's lock.
    static func from(_ error: JournalError) -> PageStoreError {
        if case .locked(let path) = error { return .locked(path: path) }
        return .journal(error)
    }

    /// Runs `body` and throws what it throws as the page store's error: for
    /// code that mixes the store's own, the storage's and the journal's
    /// typed throws, which Swift can only catch as `any Error`. Any other
    /// error is a programming error.
    static func mapping<T>(_ body: () throws -> T) throws(PageStoreError) -> T {
        do {
            return try body()
        } catch let error as PageStoreError {
            throw error
        } catch let error as StorageError {
            throw .from(error)
        } catch let error as JournalError {
            throw .from(error)
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
    }
}
