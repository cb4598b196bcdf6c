public import Journal
import JournalStorage
import Logging

extension Journal {
    /// Creates a journal in the directory at `path` (created, mode 0700, if
    /// missing; its parent must exist). Durable when it returns. See
    /// `create(storage:configuration:journalID:)`.
    ///
    /// `directIO: false` opens files without `O_DIRECT` (for file systems
    /// such as tmpfs that refuse it); writes stay `O_DSYNC`.
    ///
    /// - Throws: as `create(storage:configuration:journalID:)`, and
    ///   `JournalError.directIOUnsupported` when the file system refuses
    ///   `O_DIRECT`.
    public static func create(path: String, configuration: JournalConfiguration = JournalConfiguration(), directIO: Bool = true) throws(JournalError) {
        var options = FileSystemStorage.Options()
        options.directIO = directIO
        options.createDirectory = true
        let storage: FileSystemStorage
        do { storage = try FileSystemStorage(path: path, options: options) } catch { throw JournalError.from(error) }
        try create(storage: storage, configuration: configuration)
    }

    /// Opens the journal at `path` for appending: recovers it and starts
    /// the writer. See `open(storage:options:)` for the contract.
    ///
    /// - Throws: as `open(storage:options:)`, and
    ///   `JournalError.directIOUnsupported`, and
    ///   `JournalError.ioUringUnavailable` when `options.ioBackend` is
    ///   `.ioUring` and the kernel denies it.
    /// - Complexity: O(log bytes) for recovery.
    public static func open(path: String, options: JournalOptions = JournalOptions(), directIO: Bool = true) throws(JournalError) -> Journal {
        let storage = try fileSystemStorage(path, directIO: directIO, ioBackend: options.ioBackend, logger: options.logger)
        return try open(storage: storage, options: options)
    }

    /// Opens the journal at `path` for reading only, with no lock: it sees
    /// the records durable when it opened. See
    /// `openForReading(storage:recovery:)`.
    ///
    /// - Throws: as `openForReading(storage:recovery:)`.
    /// - Complexity: O(log bytes) for recovery.
    public static func openForReading(path: String, recovery: RecoveryMode = .tolerateTornTail, directIO: Bool = true) throws(JournalError) -> Journal {
        try openForReading(storage: try fileSystemStorage(path, directIO: directIO), recovery: recovery)
    }

    /// Opens the journal at `path` for reading only and keeps it up to
    /// date while a writer appends. See `openForFollowing(storage:recovery:)`.
    ///
    /// - Throws: as `openForFollowing(storage:recovery:)`.
    /// - Complexity: O(log bytes) for recovery.
    public static func openForFollowing(
        path: String, recovery: RecoveryMode = .tolerateTornTail, directIO: Bool = true, untilWriterCloses: Bool = false
    ) throws(JournalError) -> Journal {
        try openForFollowing(storage: try fileSystemStorage(path, directIO: directIO), recovery: recovery, untilWriterCloses: untilWriterCloses)
    }

    static func fileSystemStorage(
        _ path: String, directIO: Bool, ioBackend: JournalIOBackend = .automatic, logger: Logger? = nil
    ) throws(JournalError) -> FileSystemStorage {
        var options = FileSystemStorage.Options()
        options.directIO = directIO
        options.ioBackend = ioBackend
        if let logger { options.logger = logger }
        do { return try FileSystemStorage(path: path, options: options) } catch { throw JournalError.from(error) }
    }
}
