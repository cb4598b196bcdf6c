public import ArgumentParser
internal import CValgrind
import JournalPrimitives
import Foundation
@_spi(Testing) import Journal
import JournalCLISupport
import JournalFileStorage
import JournalStorage
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift bench cpu`: a deterministic append loop whose
/// instructions `valgrind --tool=callgrind` counts (Tools/bench/callgrind-append.sh).
///
/// `--api blocking` and `--api async` append one record per durable write
/// through `appendBlocking` or `append` (async, from a task) instead
/// (BenchCPUAPIs.swift), in the same runtime; `--api kv-put` puts into a
/// key-value store (BenchCPUKV.swift).
///
/// The journal runs in the manual runtime: no background thread, the
/// calling thread encodes, submits and reaps, so the work per append does
/// not depend on thread timing. Each round enqueues `--batch` records and
/// pumps until the last one is durable: batch size 1 is one durable write
/// per append, 64 is one write per 64 records. Only the measured loop runs
/// with callgrind's instrumentation on (`--instr-atstart=no`); creating the
/// journal, preparing segments and a warm-up are outside it. Hidden from
/// `--help`: a tool for the benchmark script, not for users.
public struct BenchCPU: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cpu",
        abstract: "Append a fixed number of records in fixed batches, for counting instructions under callgrind.",
        discussion: """
            Run under: valgrind --tool=callgrind --instr-atstart=no journalctl-swift bench cpu ... \
            Instrumentation is switched on around the measured appends only. The journal lives in a \
            fresh temporary directory under --dir (removed at the end); /dev/shm keeps the disk out. \
            Prints one JSON object on stdout.
            """,
        shouldDisplay: false)

    @Option(help: "Records per durable write (1 to 4096).")
    var batch: Int = 1

    @Option(help: "Records appended in the measured loop (a multiple of --batch).")
    var records: Int = 1000

    @Option(help: "Payload bytes per record.")
    var recordBytes: Int = 128

    @Option(help: "Records appended before the measured loop, in the same batches (rounded up to a multiple of --batch).")
    var warmupRecords: Int = 256

    @Option(help: "Directory for the temporary journal (a file system that accepts O_DIRECT; /dev/shm).")
    var dir: String = "/dev/shm"

    @Option(help: "Segment size in MiB; the warm-up and the measured loop must fit in one segment.")
    var segmentMib: Int = 64

    @Option(help: "enqueue: --batch enqueues, then pumps until durable. blocking, async: one appender calling appendBlocking or append (async, from a task) per record (--batch 1). kv-put: one writer's durable puts of 100-byte values on a key-value store (--batch 1). blocking-threaded, async-threaded: appendBlocking from one thread or append from one task, in the threaded runtime with inline writes off (--batch 1).")
    var api: API = .enqueue

    @Option(help: "The journal's inlineWritesFromTasksMicrosecondsMax (--api async); 0: an async append never writes inline. The default, 1 s, keeps the inline path open under valgrind, whose writes are slow.")
    var inlineFromTasksMaxUs = 1_000_000

    @Option(help: "--api async-threaded: tasks appending at once, each --records / --tasks records (a divisor of --records); the figure stays per append.")
    var tasks: Int = 1

    @Flag(help: "--api kv-put: journal whole page images (no page deltas).")
    var wholePages = false

    public init() {}

    public func validate() throws {
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096") }
        guard records > 0, records % batch == 0 else { throw ValidationError("--records must be a positive multiple of --batch") }
        guard warmupRecords >= 0 else { throw ValidationError("--warmup-records must not be negative") }
        guard (0...(1 << 20)).contains(recordBytes) else { throw ValidationError("--record-bytes must be in 0...1048576") }
        guard (1...1024).contains(segmentMib) else { throw ValidationError("--segment-mib must be in 1...1024") }
        guard inlineFromTasksMaxUs >= 0 else { throw ValidationError("--inline-from-tasks-max-us must not be negative") }
        guard api == .enqueue || batch == 1 else { throw ValidationError("--api \(api.rawValue) appends one record at a time: --batch 1") }
        guard tasks == 1 || api == .asyncThreaded else { throw ValidationError("--tasks needs --api async-threaded") }
        guard (1...1024).contains(tasks), records % tasks == 0, warmupRecords % tasks == 0 else {
            throw ValidationError("--tasks must be in 1...1024 and divide --records and --warmup-records")
        }
    }

    public func run() throws {
        if api == .kvPut { return try runKeyValuePuts() }
        if api == .blockingThreaded || api == .asyncThreaded { return try runThreadedAppends() }
        let temp = try makeTemporaryDirectory(under: dir)
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let journal = try openJournal(temp + "/journal")
        defer { journal.close() }

        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: max(recordBytes, 1), alignment: 16)
        defer { payload.deallocate() }
        for i in 0..<payload.count { payload[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let record = UnsafeRawBufferPointer(start: payload.baseAddress, count: recordBytes)

        let warmup = (warmupRecords + batch - 1) / batch * batch
        // Warm-up: the first segment is activated, the spares are prepared
        // (one per pump), lazily built state exists.
        do {
            _ = try Self.appendBatches(journal, record: record, count: warmup, batch: batch, api: api)
            for _ in 0...JournalOptions().spareSegments { try journal.pump() }
        } catch { throw CLIError(error) }
        let segmentsBefore = journal.segmentSummaries.count

        // Plain locals: the loop must not read the parsed options (their
        // property wrappers' getters would be counted).
        let (count, batch, api) = (records, batch, api)
        let start = monotonicNanos()
        let outcome = Result { () throws(JournalError) in
            guard api == .enqueue else {
                try Self.appendThroughAPI(journal, api: api, record: record, count: count, instrumented: true)
                return 0
            }
            cjournal_callgrind_start()
            defer { cjournal_callgrind_stop() }
            return try Self.appendBatches(journal, record: record, count: count, batch: batch, api: api)
        }
        let nanos = monotonicNanos() - start
        let pumps: Int
        switch outcome {
        case .success(let n): pumps = n
        case .failure(let error): throw CLIError(error)
        }

        // A segment rollover inside the loop would add its one-off cost to
        // the figure: refuse rather than report it.
        try Self.checkMeasuredAppends(journal, segmentsBefore: segmentsBefore, appended: warmup + records)
        let underValgrind = cjournal_running_on_valgrind() != 0
        print("{\"suite\":\"cpu-driver\",\"api\":\"\(api.rawValue)\",\"batch\":\(batch),\"records\":\(records),\"record_bytes\":\(recordBytes),\"warmup_records\":\(warmup),\"valgrind\":\(underValgrind),\"nanoseconds\":\(nanos),\"pumps\":\(pumps)}")
    }

    /// After the measured loop: every append durable, and no segment
    /// rollover inside it (its one-off cost would land in the figure).
    static func checkMeasuredAppends(_ journal: Journal, segmentsBefore: Int, appended: Int) throws {
        guard journal.segmentSummaries.count == segmentsBefore else {
            throw CLIError(.usage, "the measured appends crossed a segment boundary: raise --segment-mib or lower --records")
        }
        guard journal.durableLSN == LSN(appended) else {
            throw CLIError(.ioError, "durable LSN \(journal.durableLSN) after \(appended) appends")
        }
    }

    /// Appends `count` copies of `record` in rounds of `batch`: each round
    /// enqueues them and pumps until the round's last record is durable.
    /// Returns the pumps it took: one per round when every pump that
    /// submits also waits for its write (`WaitingStorage`).
    private static func appendBatches(_ journal: Journal, record: UnsafeRawBufferPointer, count: Int, batch: Int, api: API) throws(JournalError) -> Int {
        if api != .enqueue {
            try appendThroughAPI(journal, api: api, record: record, count: count, instrumented: false)
            return 0
        }
        var appended = 0
        var pumps = 0
        while appended < count {
            var last: LSN = 0
            for _ in 0..<batch { last = try journal.enqueue(record) }
            while journal.durableLSN < last {
                try journal.pump()
                pumps += 1
            }
            appended += batch
        }
        return pumps
    }

    /// Creates and opens the journal over `WaitingStorage`, in the manual
    /// runtime.
    private func openJournal(_ path: String) throws -> Journal {
        let storage = WaitingStorage(try makeStorage(path, ioBackend: .automatic))
        var options = JournalOptions()
        options.runtime = .manual
        options.inlineWritesFromTasksMicrosecondsMax = inlineFromTasksMaxUs
        return try createAndOpenJournal(storage, options: options)
    }

    /// The real storage in a new directory at `path`.
    func makeStorage(_ path: String, ioBackend: JournalIOBackend) throws -> FileSystemStorage {
        var storageOptions = FileSystemStorage.Options()
        storageOptions.createDirectory = true
        storageOptions.ioBackend = ioBackend
        do { return try FileSystemStorage(path: path, options: storageOptions) } catch { throw CLIError(error) }
    }

    /// Creates a journal of `--segment-mib` segments in `storage` and opens
    /// it with `options`, logging errors only.
    func createAndOpenJournal(_ storage: any StorageDirectory, options: JournalOptions) throws -> Journal {
        var configuration = JournalConfiguration()
        configuration.segmentBytes = segmentMib << 20
        // The default maximum (4 MiB), unless a small segment cannot hold it.
        configuration.recordBytesMax = max(recordBytes, min(configuration.recordBytesMax, configuration.segmentBytes / 2))
        do { try Journal.create(storage: storage, configuration: configuration) } catch { throw CLIError(error) }
        var options = options
        var logger = Logger(label: "bench-cpu")
        logger.logLevel = .error
        options.logger = logger
        do { return try Journal.open(storage: storage, options: options) } catch { throw CLIError(error) }
    }

    func makeTemporaryDirectory(under parent: String) throws -> String {
        var template = Array((parent + "/cpu-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return mkdtemp(base) != nil
        }
        guard made else { throw CLIError(.cannotCreate, "mkdtemp under \(parent): \(String(cString: strerror(errno)))") }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The real storage, except that polling for completions while writes are in
/// flight blocks until one arrives. The manual runtime's pump never blocks:
/// waiting for a durable LSN spins on it, and the number of empty polls
/// depends on how fast the kernel's worker finishes the write. Blocking in
/// the kernel instead makes the instructions per append independent of
/// timing; everything else (encoding, io_uring submission and reaping,
/// completion) is the code the I/O thread runs. Never used outside `bench cpu`.
final class WaitingStorage: StorageDirectory {
    let inner: FileSystemStorage

    init(_ inner: FileSystemStorage) { self.inner = inner }

    var path: String { inner.path }
    var ioAlignment: Int { inner.ioAlignment }
    func fileNames() throws(StorageError) -> [String] { try inner.fileNames() }
    func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile {
        try inner.createZeroFilled(name, bytes: bytes)
    }
    func open(_ name: String) throws(StorageError) -> any StorageFile { try inner.open(name) }
    func openReadOnly(_ name: String) throws(StorageError) -> any StorageFile { try inner.openReadOnly(name) }
    func rename(_ from: String, to: String) throws(StorageError) { try inner.rename(from, to: to) }
    func remove(_ name: String) throws(StorageError) { try inner.remove(name) }
    func renameLazily(_ from: String, to: String) throws(StorageError) { try inner.renameLazily(from, to: to) }
    func lockExclusive() throws(StorageError) -> any StorageLock { try inner.lockExclusive() }
    func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue {
        WaitingWriteQueue(try inner.makeWriteQueue(depth: depth))
    }
    func mapShared(_ name: String, bytes: Int, create: Bool) throws(StorageError) -> any StorageSharedMapping {
        try inner.mapShared(name, bytes: bytes, create: create)
    }
}

/// See `WaitingStorage`.
final class WaitingWriteQueue: StorageWriteQueue {
    let inner: any StorageWriteQueue

    init(_ inner: any StorageWriteQueue) { self.inner = inner }

    var depth: Int { inner.depth }
    var inFlightCount: Int { inner.inFlightCount }
    var waker: any StorageWaker { inner.waker }
    func submit(_ write: StorageWrite) throws(StorageError) { try inner.submit(write) }
    func flush() throws(StorageError) { try inner.flush() }
    func pollCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        try inner.flush()
        guard inner.inFlightCount > 0 else { return try inner.pollCompletions(body) }
        // Give the kernel's worker time to finish the write, uncounted, so
        // that the wait below almost always finds the completion ready and
        // takes the same path (otherwise the share of waits that enter the
        // kernel, and their instructions, would follow the machine's load).
        cjournal_callgrind_toggle_collect()
        usleep(Self.settleMicroseconds)
        cjournal_callgrind_toggle_collect()
        return try inner.waitForCompletions(body)
    }

    static let settleMicroseconds: UInt32 = 200
    func waitForCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        try inner.waitForCompletions(body)
    }
}
