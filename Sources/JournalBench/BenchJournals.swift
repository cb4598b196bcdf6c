import Journal
import JournalFileStorage
import Logging

#if canImport(Glibc)
import Glibc
#endif

// What the benches share to set up a run: a scratch directory, a fresh
// journal, quiet options and record bytes that differ from one another.

/// A new directory `prefix-XXXXXX` under `dir` for one run's files.
func makeTemporaryDirectory(under dir: String, prefix: String) throws(BenchError) -> String {
    var template = Array((dir + "/\(prefix)-XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
        guard let base = buffer.baseAddress else { return false }
        return mkdtemp(base) != nil
    }
    guard made else { throw BenchError("mkdtemp under \(dir): \(String(cString: strerror(errno)))") }
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Creates an empty journal with the default configuration at `path` (and
/// the directory), and returns its storage for the bench to open.
func createBenchJournal(path: String) throws -> FileSystemStorage {
    var storageOptions = FileSystemStorage.Options()
    storageOptions.createDirectory = true
    let storage = try FileSystemStorage(path: path, options: storageOptions)
    try Journal.create(storage: storage)
    return storage
}

extension JournalOptions {
    /// The defaults, with a logger (labelled `logLabel`) that reports errors
    /// only: a bench's output is its figures.
    static func bench(logLabel: String) -> JournalOptions {
        var options = JournalOptions()
        var logger = Logger(label: logLabel)
        logger.logLevel = .error
        options.logger = logger
        return options
    }
}

/// Pseudo-random bytes (xorshift64), so that records differ from one
/// another; read-only once made, so threads may share them.
final class PseudoRandomBytes: @unchecked Sendable {
    private let buffer: UnsafeMutableRawBufferPointer
    let count: Int

    /// `count` bytes of the sequence that starts at `seed` (nonzero).
    init(count: Int, seed: UInt64) {
        buffer = .allocate(byteCount: max(count, 1), alignment: 64)
        self.count = count
        Self.fill(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), seed: seed)
    }

    deinit { buffer.deallocate() }

    /// All of them; valid while this object lives.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer.baseAddress, count: count) }

    /// `count` of them from `start`; valid while this object lives.
    func slice(from start: Int, count: Int) -> UnsafeRawBufferPointer {
        precondition(start >= 0 && start + count <= self.count)
        return UnsafeRawBufferPointer(rebasing: buffer[start..<start + count])
    }

    /// Fills `bytes` with the xorshift64 sequence that starts at `seed`.
    static func fill(_ bytes: UnsafeMutableRawBufferPointer, seed: UInt64) {
        precondition(seed != 0, "xorshift64 stays at zero")
        var state = seed
        for i in bytes.indices {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            bytes[i] = UInt8(truncatingIfNeeded: state)
        }
    }
}
