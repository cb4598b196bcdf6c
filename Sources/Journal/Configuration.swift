public import Logging

/// Parameters fixed when a journal is created (stored in `journal.meta`).
///
/// A value type: build one, set what differs from the defaults, and pass it
/// to `Journal.create`. An open journal reports its own in
/// `Journal.configuration`.
public struct JournalConfiguration: Sendable, Equatable {
    /// Bytes per segment file. A multiple of `pageBytes`. Default 64 MiB.
    public var segmentBytes: Int = 64 << 20
    /// Most segment files the journal may hold (0: no limit). When the log
    /// reaches it, appends that need a new segment fail with `journalFull`
    /// until `truncate(before:)` releases segments.
    public var segmentCountMax: Int = 0
    /// Largest record payload accepted. Default 4 MiB.
    public var recordBytesMax: Int = 4 << 20
    /// Batch alignment: every batch starts at a multiple of this, so a torn
    /// write never touches a block holding acknowledged bytes. nil: the
    /// larger of the file system's direct-I/O alignment and 4096 (the
    /// physical sector of common disks).
    public var blockBytes: Int? = nil
    /// Fragmentation page: no fragment crosses a multiple of this. Default 32 KiB.
    public var pageBytes: Int = 32 << 10

    /// The defaults: 64 MiB segments, no segment limit, 4 MiB records,
    /// 32 KiB pages, the block size chosen at creation.
    public init() {}
}

/// How recovery treats damage it finds at open (the modes RocksDB offers).
public enum RecoveryMode: String, Sendable, CaseIterable {
    /// Cut a torn tail (damage followed by nothing but writes that were in
    /// flight); fail on damage followed by valid records. The default.
    case tolerateTornTail = "tolerate-torn-tail"
    /// Fail on any damage, torn tail included.
    case absoluteConsistency = "absolute"
    /// Skip damaged regions and keep every valid record after them,
    /// reporting the gaps. Never rewrites what it skips.
    case salvage
}

/// Who drives the journal's I/O. Not part of the public API: the manual
/// runtime exists for deterministic simulation.
@_spi(Testing) public enum JournalRuntime: Sendable {
    /// A dedicated I/O thread submits batches and reaps completions; a
    /// second thread prepares segments. The normal mode.
    case threads
    /// Nothing runs in the background: the caller calls `pump()` to make
    /// progress. For deterministic simulation.
    case manual
}

/// How durable writes reach the disk. Only the submission mechanism differs:
/// both write with `RWF_DSYNC` to the same `O_DSYNC` files, keep up to
/// `inFlightBatchesMax` writes on the disk at once, and give the same
/// guarantees. Used by storage on a real file system; ignored by others.
public enum JournalIOBackend: String, Sendable, CaseIterable {
    /// io_uring where the kernel allows it (`io_uring_setup` works; container
    /// seccomp profiles, gVisor and `kernel.io_uring_disabled` deny it),
    /// otherwise `threads`, logging why once.
    case automatic = "auto"
    /// io_uring, or a failure at open when the kernel denies it.
    case ioUring = "io-uring"
    /// A small fixed pool of threads, each issuing one `pwritev2` at a time.
    case threads
}

/// Options of one open journal (not stored on disk).
///
/// A value type, read once by `Journal.open`: changing a copy later has no
/// effect on an open journal. None of them changes what an acknowledgement
/// means; they trade memory, latency and throughput.
public struct JournalOptions: Sendable {
    /// What recovery does with damage it finds at open.
    public var recovery: RecoveryMode = .tolerateTornTail
    /// A batch is sealed once it holds this many bytes (a single record
    /// larger than this still goes whole in a batch of its own).
    public var batchBytesMax: Int = 1 << 20
    /// Most batches on the disk at once. The durable LSN still advances in order.
    public var inFlightBatchesMax: Int = 4
    /// Ask the kernel to back the batch buffers with transparent huge pages
    /// (`madvise(MADV_HUGEPAGE)` over one 2 MiB-aligned region). A direct
    /// write from 4 KiB pages hands the block layer a vector per page, and
    /// a batch of 1 MiB or more then reaches a disk such as virtio's (254
    /// segments per request) as two or three requests; from huge pages it
    /// is one. Advice only: where the kernel declines, the buffers are
    /// ordinary pages and everything works the same. The memory is the same
    /// either way (`inFlightBatchesMax + 2` batches, rounded up to 2 MiB
    /// when they need more than 2 MiB; smaller batches are ordinary pages
    /// in any case), all of it touched at open.
    public var hugePageBatches: Bool = true
    /// Records of at least this many bytes are copied into their batch
    /// (and checksummed) after the journal's lock is let go, so that
    /// appenders of large records copy at the same time; smaller ones are
    /// copied under the lock, where a copy costs less than a second round
    /// trip through it. Any value is safe; the default suits 2-64 threads.
    public var copyOutsideLockBytes: Int = 16 << 10
    /// Inline writes: an appender that waits for durability (`appendBlocking`)
    /// and finds the journal idle (no batch in flight or sealed, its record
    /// in the filling batch with no copy pending) writes that batch itself,
    /// durably, on its own thread (a `pwrite` on the `O_DIRECT|O_DSYNC`
    /// file), rather than handing it to the I/O thread and being woken when
    /// it completes: two thread hand-offs fewer for a lone appender.
    /// Appenders arriving meanwhile still group-commit through the I/O
    /// thread. Off: every batch goes through the I/O thread.
    public var inlineWrites: Bool = true
    /// Inline writes for `append` (async) too: the task then blocks a thread
    /// of the cooperative pool for one durable write. Off by default: the
    /// pool is as small as the core count, and a task blocked in `pwrite`
    /// holds up every other task scheduled on its thread.
    public var inlineWritesFromTasks: Bool = false
    /// Inline writes for `append` (async) while the device is fast: while
    /// the inline writes took at most this many microseconds, a task that
    /// finds the journal idle writes its batch itself, blocking its pool
    /// thread for about that long rather than paying two thread hand-offs
    /// (to the I/O thread, then back through the cooperative pool), which
    /// cost more than such a write. An inline write slower than this sends
    /// tasks to the I/O thread for a cooldown of writes that doubles with
    /// each slow probe, up to 1024 writes: on a slow disk a task blocks its
    /// thread for one write in about a thousand. tmpfs and NVMe devices
    /// (writes of a few to 20 microseconds) qualify. 0: never (unless
    /// `inlineWritesFromTasks`).
    public var inlineWritesFromTasksMicrosecondsMax: Int = 50
    /// Segments kept ready ahead of the writer so rollover never waits.
    public var spareSegments: Int = 2
    /// Released segments kept for reuse rather than deleted. A log truncated
    /// behind its writer (at checkpoints) then takes its next segments from
    /// these instead of zero-filling new files, which would cost the disk as
    /// many bytes again as the records. Truncation releases segments in
    /// bursts (all those a checkpoint covers), so the pool must hold a burst:
    /// one too small deletes part of each burst and zero-fills as many files
    /// again before the next. Up to this many times `segmentBytes` of disk
    /// stays allocated to released files.
    public var recycledSegmentsMax: Int = 8
    /// Most bytes of segment files one reader position may keep from
    /// truncation: the segments from the one holding the position's next
    /// record through the one being written, `segmentBytes` each. A
    /// position that would keep more is overtaken: truncation releases the
    /// segments it asked for anyway, and the position's reader gets
    /// `JournalError.readerFellBehind` at its next read. A truncation that
    /// positions held back stays pending and runs again at each segment
    /// rollover, so the bound holds without further `truncate` calls: a
    /// consumer that died holding a position costs at most this much disk
    /// beyond what the application keeps. Default 4 GiB
    /// (64 segments of the default size); `Int.max`: no bound.
    public var retainedBytesMax: Int = 4 << 30
    /// How writes reach the disk when the journal is opened by path
    /// (`Journal.open(path:options:)`). Storage given to `open(storage:)`
    /// brings its own.
    public var ioBackend: JournalIOBackend = .automatic
    /// A batch write slower than this is logged as a warning.
    public var slowWriteMilliseconds: Int = 100
    /// `.threads` outside tests.
    @_spi(Testing) public var runtime: JournalRuntime = .threads
    /// Where the journal logs recovery, segment activation, slow writes and
    /// failures.
    public var logger: Logger = Logger(label: "swift-journal")
    /// Prefix of the metrics this journal reports.
    public var metricsPrefix: String = "journal"
    /// Deliberate defects, for proving that the crash tests catch them.
    /// Never set outside tests.
    @_spi(Testing) public var testingDefects: JournalDefects = []

    /// The defaults documented on each option.
    public init() {}
}

/// Defects a test can switch on to check that the power-cut explorer
/// reports them. Each breaks a guarantee of journal-format.md.
@_spi(Testing) public struct JournalDefects: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Acknowledge a batch as soon as its write is submitted, before it completes.
    public static let acknowledgeBeforeDurable = JournalDefects(rawValue: 1)
    /// Accept payloads without checking their checksums (reads and recovery).
    public static let skipPayloadChecksums = JournalDefects(rawValue: 2)
    /// Start each batch in the block where the previous one ended, rewriting
    /// the acknowledged bytes of that block (as a log that packs blocks would).
    public static let rewriteAcknowledgedBlocks = JournalDefects(rawValue: 4)
    /// Truncate as if no named reader position existed.
    public static let truncateIgnoringPositions = JournalDefects(rawValue: 8)
}
