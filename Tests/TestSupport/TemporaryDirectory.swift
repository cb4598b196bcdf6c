import Foundation
public import JournalFileStorage

/// File systems every journal test runs on: ext4 (or whatever /tmp is) and tmpfs.
public enum TestFileSystem: String, CaseIterable, CustomStringConvertible, Sendable {
    case tmp = "/tmp"
    case shm = "/dev/shm"
    public var description: String { rawValue }
}

/// A fresh directory removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(on fs: TestFileSystem = .tmp, _ label: String = "journal") {
        path = "\(fs.rawValue)/swift-journal-test-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func storage(directIO: Bool = true) throws -> FileSystemStorage {
        var o = FileSystemStorage.Options()
        o.directIO = directIO
        return try FileSystemStorage(path: path, options: o)
    }
}
