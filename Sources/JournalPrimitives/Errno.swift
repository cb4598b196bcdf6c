#if canImport(Glibc)
import Glibc
#endif

/// An error number from the system, thrown as a typed error.
///
/// swift-system has the same type, but its C module includes the kernel's
/// io_uring and select headers in a way that cannot be imported beside
/// liburing in one Swift module, so the project keeps this small one.
public struct Errno: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(rawValue: Glibc.errno) }

    public var description: String { String(cString: strerror(rawValue)) }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let ioError = Errno(rawValue: EIO)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let resourceTemporarilyUnavailable = Errno(rawValue: EAGAIN)
    public static let wouldBlock = Errno(rawValue: EWOULDBLOCK)
    public static let resourceBusy = Errno(rawValue: EBUSY)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    public static let fileExists = Errno(rawValue: EEXIST)
    public static let permissionDenied = Errno(rawValue: EACCES)
    public static let notPermitted = Errno(rawValue: EPERM)
    public static let readOnlyFileSystem = Errno(rawValue: EROFS)
    public static let notDirectory = Errno(rawValue: ENOTDIR)
    public static let isDirectory = Errno(rawValue: EISDIR)
    /// What `mmap` returns where the file system cannot map a file as asked.
    public static let noDevice = Errno(rawValue: ENODEV)
}
