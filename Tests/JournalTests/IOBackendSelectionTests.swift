import Foundation
@_spi(Testing) import Journal
@_spi(Testing) import JournalFileStorage
import JournalPrimitives
import JournalStorage
import TestSupport
import Testing

/// The choice of I/O backend at open (`JournalIOBackend`), the errors when
/// io_uring is required and cannot be used, and the FUSE rule.
@Suite struct IOBackendSelectionTests {
    static let fuse: Int64 = 0x6573_5546

    static func options(_ backend: JournalIOBackend, fileSystemType: Int64? = nil) -> FileSystemStorage.Options {
        var o = FileSystemStorage.Options()
        o.ioBackend = backend
        o.fileSystemTypeOverride = fileSystemType
        return o
    }

    /// Explicit choices are kept; `.automatic` resolves to one of the two.
    @Test func explicitChoicesAreKept() throws {
        let dir = TemporaryDirectory(on: .shm)
        let threads = try FileSystemStorage(path: dir.path, options: Self.options(.threads))
        #expect(threads.ioBackend.backend == .threads)
        #expect(!threads.ioBackend.syncsEachWrite)
        let automatic = try FileSystemStorage(path: dir.path, options: Self.options(.automatic))
        #expect(automatic.ioBackend.backend != .automatic)
        #expect(!automatic.ioBackend.reason.isEmpty)
        #expect(threads.fileSystemType == 0x0102_1994, "/dev/shm is tmpfs")
    }

    /// On FUSE, `.automatic` takes the thread backend with an explicit
    /// `fdatasync` per write, and `.ioUring` is refused with an error that
    /// names the way out.
    @Test func fuseGetsAnExplicitSyncOrARefusal() throws {
        let dir = TemporaryDirectory(on: .shm)
        let automatic = try FileSystemStorage(path: dir.path, options: Self.options(.automatic, fileSystemType: Self.fuse))
        #expect(automatic.ioBackend.backend == .threads)
        #expect(automatic.ioBackend.syncsEachWrite)
        #expect(automatic.ioBackend.reason.contains("FUSE"))
        #expect(try FileSystemStorage(path: dir.path, options: Self.options(.threads, fileSystemType: Self.fuse)).ioBackend.syncsEachWrite)
        do {
            _ = try FileSystemStorage(path: dir.path, options: Self.options(.ioUring, fileSystemType: Self.fuse))
            Issue.record("io_uring was accepted on FUSE")
        } catch {
            let mapped = JournalError.from(error)
            guard case .ioUringUnavailable = mapped else { Issue.record("got \(mapped)"); return }
            #expect(mapped.description.contains("FUSE") && mapped.description.contains("--io-backend threads"))
        }
    }

    /// On FUSE every batch write, through the pool and inline, is followed
    /// by an `fdatasync`; the records replay.
    @Test(arguments: [true, false])
    func fuseSyncsEveryBatch(inline: Bool) throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(), directIO: false)
        var o = Self.options(.automatic, fileSystemType: Self.fuse)
        o.directIO = false
        let storage = try FileSystemStorage(path: dir.path, options: o)
        var options = JournalOptions()
        options.inlineWrites = inline
        let journal = try Journal.open(storage: storage, options: options)
        let before = storage.explicitSyncCount
        for i in 1...5 { #expect(try journal.appendBlocking(payload(i, bytes: 300)) == LSN(i)) }
        #expect(storage.explicitSyncCount - before >= 5, "one fdatasync per batch at least")
        journal.close()
        let reader = try Journal.openForReading(path: dir.path, directIO: false)
        for i in 1...5 { #expect(try reader.record(at: LSN(i)) == payload(i, bytes: 300)) }
    }

    /// A kernel that denies `io_uring_setup` reads, for `.ioUring`, as a
    /// configuration error that names the thread backend.
    @Test func aDeniedRingIsAConfigurationError() {
        let denied = StorageError("io_uring_setup", path: "/j", errno: .notPermitted)
        let mapped = JournalError.from(denied)
        guard case .ioUringUnavailable = mapped else { Issue.record("got \(mapped)"); return }
        #expect(mapped.description.contains("--io-backend threads"))
        // Other EPERMs stay permission errors.
        guard case .permissionDenied = JournalError.from(StorageError("open", path: "/j", errno: .notPermitted)) else {
            Issue.record("an EPERM from open changed meaning")
            return
        }
    }

    /// `JournalOptions.ioBackend` reaches the storage `Journal.open(path:)` makes.
    @Test func theJournalOptionReachesTheStorage() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        var options = JournalOptions()
        options.ioBackend = .threads
        let journal = try Journal.open(path: dir.path, options: options)
        #expect(try journal.appendBlocking([1, 2, 3]) == 1)
        #expect((journal.storage as? FileSystemStorage)?.ioBackend.backend == .threads)
        journal.close()
    }
}
