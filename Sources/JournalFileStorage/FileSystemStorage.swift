internal import CJournalShims
import Uring
public import JournalStorage
public import JournalPrimitives
public import Journal
public import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The real storage: a directory on a Linux file system, files opened with
/// `O_DIRECT|O_DSYNC` (or `O_DSYNC` alone when direct I/O is turned off),
/// durable writes through io_uring or, where the kernel denies it, a pool of
/// threads (`Options.ioBackend`, `IOBackendSelection`).
public final class FileSystemStorage: StorageDirectory {
    public struct Options: Sendable {
        /// Open files with `O_DIRECT`. When false, writes go through the page
        /// cache but stay durable (`O_DSYNC`).
        public var directIO: Bool = true
        /// Permission bits of files and of the directory when created.
        public var fileMode: UInt32 = 0o600
        /// Create the directory when it does not exist.
        public var createDirectory: Bool = false
        /// How durable writes reach the disk. `.automatic` chooses io_uring
        /// where it works, else threads, and logs why once.
        public var ioBackend: JournalIOBackend = .automatic
        /// Where the choice of backend is logged.
        public var logger: Logger = Logger(label: "swift-journal")
        /// Tests only: the file-system type to act on instead of the real one
        /// (FUSE cannot be mounted everywhere tests run).
        @_spi(Testing) public var fileSystemTypeOverride: Int64? = nil
        /// Tests only: called on the I/O thread before each write of the
        /// thread backend; may block, or return an errno to fail the write.
        @_spi(Testing) public var threadWriteFault: (@Sendable (_ tag: UInt64, _ offset: Int) -> Errno?)? = nil
        public init() {}
    }

    public let path: String
    public let ioAlignment: Int
    public let options: Options
    /// The write mechanism in use, and why.
    public let ioBackend: IOBackendChoice
    /// The file system's `statfs` type (`f_type`).
    public let fileSystemType: Int64
    private let directoryFD: Int32
    private let counters = StorageCounters()

    /// Tests only: the `fdatasync` calls added after writes (FUSE).
    @_spi(Testing) public var explicitSyncCount: Int { counters.explicitSyncCount }

    /// Opens (or, with `createDirectory`, creates) the directory at `path`
    /// and probes its file system: direct-I/O support and alignment.
    public init(path: String, options: Options = Options()) throws(StorageError) {
        self.path = path
        self.options = options
        if options.createDirectory {
            let dirMode = options.fileMode | ((options.fileMode & 0o444) >> 2)  // r -> x
            if mkdir(path, dirMode) != 0, Glibc.errno != EEXIST {
                throw StorageError("mkdir", path: path, errno: Errno(rawValue: Glibc.errno))
            }
        }
        let flags = O_RDONLY | cjournal_o_directory() | cjournal_o_cloexec()
        let fd = try Self.retryingEINTR("open", path) { Glibc.open(path, flags) }
        self.directoryFD = fd
        do {
            let type = options.fileSystemTypeOverride ?? cjournal_file_system_type(fd)
            self.fileSystemType = type
            self.ioBackend = try IOBackendSelection.choose(options.ioBackend, fileSystemType: type, path: path, logger: options.logger)
            self.ioAlignment = try Self.probeAlignment(directory: path, directIO: options.directIO, mode: options.fileMode)
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
    }

    deinit {
        _ = Glibc.close(directoryFD)
    }

    /// Creates a probe file to learn whether the file system accepts
    /// `O_DIRECT` and what alignment it needs.
    private static func probeAlignment(directory: String, directIO: Bool, mode: UInt32) throws(StorageError) -> Int {
        let probe = directory + "/.probe-\(getpid())"
        var flags = O_RDWR | O_CREAT | O_TRUNC | cjournal_o_cloexec()
        if directIO { flags |= cjournal_o_direct() }
        var fd = Glibc.open(probe, flags, mode)
        var created = true
        if fd < 0 {
            let e = Errno(rawValue: Glibc.errno)
            guard e == .readOnlyFileSystem || e == .permissionDenied || e == .notPermitted else {
                throw StorageError(directIO && e == .invalidArgument ? "open O_DIRECT" : "open", path: probe, errno: e)
            }
            // Not writable (a read-only file system, say): readers may still
            // use the directory. Probe an existing file, if any.
            created = false
            fd = Self.openAnyRegularFile(in: directory, flags: O_RDONLY | cjournal_o_cloexec() | (directIO ? cjournal_o_direct() : 0))
            if fd < 0 { return 4096 }
        }
        defer {
            _ = Glibc.close(fd)
            if created { _ = unlink(probe) }
        }
        var memoryAlign: UInt32 = 0
        var offsetAlign: UInt32 = 0
        var alignment = 4096
        if cjournal_dio_alignment(fd, &memoryAlign, &offsetAlign) == 0, offsetAlign > 0 {
            alignment = Int(max(memoryAlign, offsetAlign))
        }
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        return alignment
    }

    private static func openAnyRegularFile(in directory: String, flags: Int32) -> Int32 {
        guard let dir = opendir(directory) else { return -1 }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            guard entry.pointee.d_type == UInt8(DT_REG) else { continue }
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            let fd = Glibc.open(directory + "/" + name, flags)
            if fd >= 0 { return fd }
        }
        return -1
    }

    static func retryingEINTR(_ operation: String, _ path: String, _ body: () -> Int32) throws(StorageError) -> Int32 {
        while true {
            let rc = body()
            if rc >= 0 { return rc }
            let e = Glibc.errno
            if e == EINTR { continue }
            throw StorageError(operation, path: path, errno: Errno(rawValue: e))
        }
    }

    private func full(_ name: String) -> String {
        precondition(!name.contains("/") && !name.isEmpty, "file names are plain names")
        return path + "/" + name
    }

    private func syncDirectory() throws(StorageError) {
        _ = try Self.retryingEINTR("fsync", path) { fsync(directoryFD) }
    }

    public func fileNames() throws(StorageError) -> [String] {
        guard let dir = opendir(path) else {
            throw StorageError("opendir", path: path, errno: Errno(rawValue: Glibc.errno))
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let type = entry.pointee.d_type
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            if type == UInt8(DT_REG) || type == UInt8(DT_UNKNOWN) { names.append(name) }
        }
        return names
    }

    private func openFlags(create: Bool) -> Int32 {
        var flags = O_RDWR | cjournal_o_dsync() | cjournal_o_cloexec()
        if options.directIO { flags |= cjournal_o_direct() }
        if create { flags |= O_CREAT | O_EXCL }
        return flags
    }

    public func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile {
        precondition(bytes >= 0 && bytes % ioAlignment == 0, "size must be a multiple of the I/O alignment")
        // Fill under a temporary name, then rename: a crash never leaves a
        // short file under the final name.
        let temporary = name + ".tmp"
        let temporaryPath = full(temporary)
        _ = unlink(temporaryPath)
        let fd = try Self.retryingEINTR("open", temporaryPath) { Glibc.open(temporaryPath, openFlags(create: true), options.fileMode) }
        let file = FileSystemFile(name: temporary, path: temporaryPath, fd: fd, size: bytes, io: fileIO)
        do {
            if try !allocatedInMemory(fd, bytes: bytes, path: temporaryPath) {
                try Self.writeZeros(file, bytes: bytes, chunkBytesMin: ioAlignment)
            }
            _ = try Self.retryingEINTR("fdatasync", temporaryPath) { fdatasync(fd) }
            try rename(temporary, to: name)
        } catch {
            file.close()
            _ = unlink(temporaryPath)
            throw error
        }
        file.renamed(name: name, path: full(name))
        return file
    }

    /// `statfs` type of tmpfs.
    static let tmpfsMagic: Int64 = 0x0102_1994

    /// On tmpfs, gives the file its `bytes` with `fallocate` instead of
    /// writing zeros (journal-format.md, section 2): its pages read as
    /// zeros and are reserved, so a later write cannot fail for space, and
    /// tmpfs persists nothing, so no overwrite has metadata to make
    /// durable. Writing 1 MiB of zeros at a time costs the segment preparer
    /// a copy of every byte for nothing there. Returns false where zeros
    /// must be written: any other file system, or a tmpfs that refuses.
    private func allocatedInMemory(_ fd: Int32, bytes: Int, path: String) throws(StorageError) -> Bool {
        guard fileSystemType == Self.tmpfsMagic, bytes > 0 else { return false }
        while cjournal_fallocate(fd, Int64(bytes)) != 0 {
            let e = Glibc.errno
            if e == EINTR { continue }
            if e == EOPNOTSUPP || e == ENOSYS { return false }
            throw StorageError("fallocate", path: path, errno: Errno(rawValue: e))
        }
        return true
    }

    /// Writes zeros over the first `bytes` of `file`, durably, 1 MiB at a time.
    private static func writeZeros(_ file: FileSystemFile, bytes: Int, chunkBytesMin: Int) throws(StorageError) {
        let chunk = min(max(bytes, chunkBytesMin), 1 << 20)
        let zeros = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: max(chunkBytesMin, 4096))
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0, count: chunk)
        var offset = 0
        while offset < bytes {
            let n = min(chunk, bytes - offset)
            try file.writeDurably(UnsafeRawBufferPointer(start: zeros, count: n), at: offset)
            offset += n
        }
    }

    public func open(_ name: String) throws(StorageError) -> any StorageFile {
        try openExisting(name, flags: openFlags(create: false))
    }

    public func openReadOnly(_ name: String) throws(StorageError) -> any StorageFile {
        var flags = O_RDONLY | cjournal_o_cloexec()
        if options.directIO { flags |= cjournal_o_direct() }
        return try openExisting(name, flags: flags)
    }

    /// How every file of this storage does its I/O.
    private var fileIO: FileSystemFile.IO {
        // `counters` counts the `fdatasync` a FUSE file adds after each durable write.
        FileSystemFile.IO(alignment: options.directIO ? ioAlignment : 1, syncAfterWrites: ioBackend.syncsEachWrite ? counters : nil)
    }

    private func openExisting(_ name: String, flags: Int32) throws(StorageError) -> FileSystemFile {
        let p = full(name)
        let fd = try Self.retryingEINTR("open", p) { Glibc.open(p, flags) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let e = Errno(rawValue: Glibc.errno)
            _ = Glibc.close(fd)
            throw StorageError("fstat", path: p, errno: e)
        }
        return FileSystemFile(name: name, path: p, fd: fd, size: Int(st.st_size), io: fileIO)
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        let a = full(from)
        let b = full(to)
        _ = try Self.retryingEINTR("rename", a) { Glibc.rename(a, b) }
        try syncDirectory()
    }

    public func renameLazily(_ from: String, to: String) throws(StorageError) {
        let a = full(from)
        let b = full(to)
        _ = try Self.retryingEINTR("rename", a) { Glibc.rename(a, b) }
    }

    public func remove(_ name: String) throws(StorageError) {
        let p = full(name)
        _ = try Self.retryingEINTR("unlink", p) { unlink(p) }
        try syncDirectory()
    }

    public func lockExclusive() throws(StorageError) -> any StorageLock {
        let fd = try Self.retryingEINTR("open", path) { Glibc.open(path, O_RDONLY | cjournal_o_directory() | cjournal_o_cloexec()) }
        do {
            _ = try Self.retryingEINTR("flock", path) { flock(fd, LOCK_EX | LOCK_NB) }
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        return FileSystemLock(fd: fd)
    }

    /// An open-file-description lock (`F_OFD_SETLK`) on `name`, created
    /// empty if absent: the kernel drops it when the process dies.
    public func lockFile(_ name: String) throws(StorageError) -> any StorageLock {
        let p = full(name)
        let mode = mode_t(options.fileMode)
        let fd = try Self.retryingEINTR("open", p) { Glibc.open(p, O_RDWR | O_CREAT | cjournal_o_cloexec(), mode) }
        do {
            _ = try Self.retryingEINTR("fcntl F_OFD_SETLK", p) { cjournal_ofd_trylock(fd) }
        } catch {
            _ = Glibc.close(fd)
            // EACCES and EAGAIN both mean another holder.
            if error.errno == .permissionDenied { throw StorageError(error.operation, path: p, errno: .wouldBlock) }
            throw error
        }
        return FileSystemLock(fd: fd, byFile: true)
    }

    public func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue {
        switch ioBackend.backend {
        case .ioUring, .automatic:
            try UringWriteQueue(depth: depth, alignment: ioAlignment)
        case .threads:
            ThreadWriteQueue(
                depth: depth, alignment: ioAlignment, syncEachWrite: ioBackend.syncsEachWrite,
                counters: counters, fault: options.threadWriteFault)
        }
    }
}

final class FileSystemLock: StorageLock, @unchecked Sendable {
    // Guarded by the owner: unlock is called at most once, by the journal's
    // close path, and deinit runs after it.
    private var fd: Int32
    /// An open file description's lock, which closing the file drops.
    private let byFile: Bool

    init(fd: Int32, byFile: Bool = false) {
        self.fd = fd
        self.byFile = byFile
    }

    func unlock() {
        if fd >= 0 {
            if !byFile { _ = flock(fd, LOCK_UN) }
            _ = Glibc.close(fd)
            fd = -1
        }
    }

    deinit { unlock() }
}

/// An open file of a `FileSystemStorage`.
public final class FileSystemFile: StorageFile, @unchecked Sendable {
    // `name` and `path` change only in `renamed`, before the file is shared.
    public private(set) var name: String
    private(set) var path: String
    let fd: Int32
    public let size: Int
    let io: IO

    /// How the files of one storage do I/O: the same for all of them.
    struct IO {
        /// Direct-I/O alignment, or 1 when files are not opened with O_DIRECT.
        let alignment: Int
        /// Set on file systems where `O_DSYNC` is not trusted (FUSE): each
        /// `writeDurably` ends with an `fdatasync`, counted here.
        let syncAfterWrites: StorageCounters?
    }

    init(name: String, path: String, fd: Int32, size: Int, io: IO) {
        self.name = name
        self.path = path
        self.fd = fd
        self.size = size
        self.io = io
    }

    /// `fdatasync`, retrying `EINTR`: nil, or the error.
    func syncData() -> Errno? {
        while fdatasync(fd) != 0 {
            if Glibc.errno != EINTR { return Errno(rawValue: Glibc.errno) }
        }
        return nil
    }

    func renamed(name: String, path: String) {
        self.name = name
        self.path = path
    }

    deinit { _ = Glibc.close(fd) }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int {
        precondition(offset >= 0, "negative offset")
        if buffer.count == 0 { return 0 }
        let a = io.alignment
        if a > 1, offset % a != 0 || buffer.count % a != 0 || Int(bitPattern: buffer.baseAddress) % a != 0 {
            // O_DIRECT needs aligned reads: read the covering aligned range.
            let start = offset / a * a
            let end = (offset + buffer.count + a - 1) / a * a
            let bounce = UnsafeMutableRawBufferPointer.allocate(byteCount: end - start, alignment: max(a, 4096))
            defer { bounce.deallocate() }
            let n = try alignedRead(into: bounce, at: start)
            let available = max(0, min(n - (offset - start), buffer.count))
            if available > 0 {
                buffer.baseAddress!.copyMemory(from: bounce.baseAddress! + (offset - start), byteCount: available)
            }
            return available
        }
        return try alignedRead(into: buffer, at: offset)
    }

    private func alignedRead(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int {
        try transfer("pread", count: buffer.count) { done in
            pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
        }
    }

    /// Calls `call(done)`, a `pread` or `pwrite` of what is left of a
    /// `count`-byte transfer once `done` bytes are through, until all of it
    /// is through or a call transfers nothing (end of file), retrying EINTR.
    /// Returns the bytes transferred.
    private func transfer(_ operation: String, count: Int, _ call: (_ done: Int) -> Int) throws(StorageError) -> Int {
        var done = 0
        while done < count {
            let n = call(done)
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw StorageError(operation, path: path, errno: Errno(rawValue: Glibc.errno))
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    public func writeDurably(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError) {
        let written = try transfer("pwrite", count: bytes.count) { done in
            pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
        }
        // A write that transfers nothing would never finish.
        if written < bytes.count { throw StorageError("pwrite", path: path, errno: .ioError) }
        if let counters = io.syncAfterWrites {
            counters.countExplicitSync()
            if let e = syncData() { throw StorageError("fdatasync", path: path, errno: e) }
        }
    }

    public func mapReadOnly() throws(StorageError) -> any StorageMapping {
        if size == 0 { return EmptyMapping() }
        guard let base = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw StorageError("mmap", path: path, errno: Errno(rawValue: Glibc.errno))
        }
        return FileMapping(base: base, count: size)
    }

    public func close() {
        // The descriptor is closed when the last reference goes away, so that
        // a write still in flight never targets a reused descriptor number.
    }
}

final class FileMapping: StorageMapping, @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    init(base: UnsafeMutableRawPointer, count: Int) {
        bytes = UnsafeRawBufferPointer(start: base, count: count)
    }
    deinit {
        if let base = bytes.baseAddress { _ = munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

final class EmptyMapping: StorageMapping, @unchecked Sendable {
    let bytes = UnsafeRawBufferPointer(start: nil, count: 0)
}
