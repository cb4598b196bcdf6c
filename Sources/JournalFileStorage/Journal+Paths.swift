public import Journal
import JournalStorage

extension Journal {
    /// Creates a journal in the directory at `path` (created, mode 0700, if
    /// missing). See `create(storage:configuration:journalID:)`.
    public static func create(path: String, configuration: JournalConfiguration = JournalConfiguration(), directIO: Bool = true) throws(JournalError) {
        var options = FileSystemStorage.Options()
        options.directIO = directIO
        options.createDirectory = true
        let storage: FileSystemStorage
        do { storage = try FileSystemStorage(path: path, options: options) } catch { throw JournalError.from(error) }
        try create(storage: storage, configuration: configuration)
    }

    /// Opens the journal at `path` for appending.
    public static func open(path: String, options: JournalOptions = JournalOptions(), directIO: Bool = true) throws(JournalError) -> Journal {
        try open(storage: try fileSystemStorage(path, directIO: directIO), options: options)
    }

    /// Opens the journal at `path` for reading only.
    public static func openForReading(path: String, recovery: RecoveryMode = .tolerateTornTail, directIO: Bool = true) throws(JournalError) -> Journal {
        try openForReading(storage: try fileSystemStorage(path, directIO: directIO), recovery: recovery)
    }

    static func fileSystemStorage(_ path: String, directIO: Bool) throws(JournalError) -> FileSystemStorage {
        var options = FileSystemStorage.Options()
        options.directIO = directIO
        do { return try FileSystemStorage(path: path, options: options) } catch { throw JournalError.from(error) }
    }
}
