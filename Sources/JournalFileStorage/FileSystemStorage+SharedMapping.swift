public import JournalStorage
import JournalPrimitives
#if canImport(Glibc)
import Glibc
#endif

// Shared mappings of the real storage: the journal's follow file, mapped by
// the writer and by every process that follows the journal.

extension FileSystemStorage {
    public func mapShared(_ name: String, bytes: Int, create: Bool) throws(StorageError) -> any StorageSharedMapping {
        precondition(!name.contains("/") && !name.isEmpty && bytes > 0, "a plain name, a positive size")
        let path = self.path + "/" + name
        let fd = try Self.retryingEINTR("open", path) { Glibc.open(path, (create ? O_RDWR | O_CREAT : O_RDWR) | O_CLOEXEC, 0o600) }
        var st = stat()
        if fstat(fd, &st) != 0 || (Int(st.st_size) < bytes && ftruncate(fd, off_t(bytes)) != 0) {
            let e = Errno.current
            Glibc.close(fd)
            throw StorageError("ftruncate", path: path, errno: e)
        }
        guard let base = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            let e = Errno.current
            Glibc.close(fd)
            throw StorageError("mmap MAP_SHARED", path: path, errno: e)
        }
        Glibc.close(fd)  // the mapping keeps the file
        return FileSharedMapping(path: path, device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
                                 bytes: UnsafeMutableRawBufferPointer(start: base, count: bytes))
    }
}

/// A file of the real storage mapped shared. Remembers its device and inode,
/// to tell whether its path still leads to it.
final class FileSharedMapping: StorageSharedMapping, @unchecked Sendable {
    // @unchecked: immutable after init; the bytes are the caller's to share.
    let bytes: UnsafeMutableRawBufferPointer
    private let path: String
    private let device: UInt64
    private let inode: UInt64

    init(path: String, device: UInt64, inode: UInt64, bytes: UnsafeMutableRawBufferPointer) {
        self.path = path
        self.device = device
        self.inode = inode
        self.bytes = bytes
    }

    deinit {
        if let base = bytes.baseAddress { _ = munmap(base, bytes.count) }
    }

    func link() -> StorageFileLink {
        // The name first: a file renamed over this one leaves it unlinked,
        // and that is a replacement, not a removal.
        var named = stat()
        guard stat(path, &named) == 0 else {
            let e = errno
            return e == ENOENT || e == ENOTDIR ? .removed : .linked
        }
        return UInt64(named.st_dev) == device && UInt64(named.st_ino) == inode ? .linked : .replaced
    }
}
