import JournalPrimitives
import Synchronization
@testable import PagedFile
#if canImport(Glibc)
import Glibc
#endif

/// Whether long test modes are on (`PAGEDFILE_DIFF=1`).
var longMode: Bool {
    guard let value = getenv("PAGEDFILE_DIFF") else { return false }
    return String(cString: value) == "1"
}

/// One value per thread of `runThreads`, stored by that thread and read after
/// the join. The join orders the accesses, and ThreadSanitizer sees it; it
/// does not see the futex inside the standard library's `Mutex`, so a `Mutex`
/// here reads to it as a race between the threads' stores.
final class PerThread<Value>: @unchecked Sendable {
    // @unchecked: thread i touches only slot i, and the owner reads after the join.
    let count: Int
    private let values: UnsafeMutablePointer<Value?>

    init(count: Int) {
        self.count = count
        values = .allocate(capacity: count)
        values.initialize(repeating: nil, count: count)
    }

    deinit {
        values.deinitialize(count: count)
        values.deallocate()
    }

    subscript(index: Int) -> Value? {
        get { values[index] }
        set { values[index] = newValue }
    }
}

/// Failures collected from many threads, checked once after they join.
final class Failures: Sendable {
    private let messages = LockedValue<[String]>([])
    func record(_ message: String) { messages.withLock { $0.append(message) } }
    var all: [String] { messages.withLock { $0 } }
}

/// ThreadSanitizer annotations, found at run time so that the same tests run
/// with and without `-sanitize=thread`. Tests that race on the same bytes on
/// purpose (overlapping writers, a reader racing truncation) call
/// `ignoringIntendedRaces` around those accesses: TSan then skips the byte
/// accesses of that thread but still tracks its synchronization.
enum TSan {
    typealias Hook = @convention(c) () -> Void
    private static let begin: Hook? = lookup("__tsan_ignore_thread_begin")
    private static let end: Hook? = lookup("__tsan_ignore_thread_end")

    private static func lookup(_ name: String) -> Hook? {
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: Hook.self)
    }

    static func ignoringIntendedRaces<T>(_ body: () throws -> T) rethrows -> T {
        begin?()
        defer { end?() }
        return try body()
    }
}

extension PagedFile {
    func write(at offset: Int, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in try write(at: offset, from: buffer) }
    }

    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0xEE, count: count)
        let got = try bytes.withUnsafeMutableBytes { buffer in try read(at: offset, into: buffer) }
        return Array(bytes[0 ..< got])
    }
}

/// Checks the pool's books at quiescence: no page leaked, nothing oversold.
func expectPoolWhole(_ pool: PagePool, files: [PagedFile], _ context: String = "") -> [String] {
    var problems: [String] = []
    let rented = pool.rentedPages
    let committed = pool.committedPages
    let free = pool.quiescentFreePageCount()
    if free + rented != pool.pageCapacity { problems.append("leak: free \(free) + rented \(rented) != \(pool.pageCapacity) \(context)") }
    if committed > pool.pageCapacity { problems.append("oversold: committed \(committed) \(context)") }
    let held = files.reduce(0) { $0 + $1.reservedBytes } / pool.pageBytes
    if held != committed { problems.append("committed \(committed) != held by files \(held) \(context)") }
    let allocated = files.reduce(0) { $0 + $1.allocatedBytes } / pool.pageBytes
    if allocated != rented { problems.append("rented \(rented) != allocated by files \(allocated) \(context)") }
    return problems
}
