import JournalPrimitives
public import JournalStorage

#if canImport(Glibc)
import Glibc
#endif

// Creating and opening a journal: `create` writes the metadata file,
// `open` takes the writer lock, recovers and starts the writer,
// `openForReading` recovers without writing anything.

extension Journal {

    /// Creates an empty journal in `storage`'s directory.
    ///
    /// Durable when it returns: the metadata file is written under a
    /// temporary name and renamed, so a crash leaves either no journal or a
    /// whole one. Takes the directory's lock for the duration; thread-safe.
    ///
    /// - Throws: `JournalError.alreadyExists` if the directory holds a
    ///   journal, `.invalidArgument` if the configuration is inconsistent,
    ///   `.locked` if a writer holds the directory, `.io` and the other
    ///   storage errors if a file operation fails.
    public static func create(
        storage: any StorageDirectory, configuration: JournalConfiguration = JournalConfiguration(),
        journalID: UInt64? = nil
    ) throws(JournalError) {
        let hold: any StorageLock
        do { hold = try storage.lockExclusive() } catch { throw JournalError.from(error) }
        defer { hold.unlock() }
        let names: [String]
        do { names = try storage.fileNames() } catch { throw JournalError.from(error) }
        if names.contains(JournalFormat.metadataFileName) || names.contains(where: { JournalFormat.segmentIndex(fileName: $0) != nil }) {
            throw .alreadyExists(path: storage.path)
        }
        let block = configuration.blockBytes ?? max(storage.ioAlignment, 4096)
        guard block % storage.ioAlignment == 0 else {
            throw .invalidArgument("block size \(block) is not a multiple of the file system's direct-I/O alignment \(storage.ioAlignment)")
        }
        var random = SystemRandomNumberGenerator()
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let meta = JournalMetadata(
            journalID: journalID ?? random.next(), segmentBytes: configuration.segmentBytes,
            segmentCountMax: configuration.segmentCountMax, recordBytesMax: configuration.recordBytesMax,
            blockBytes: block, pageBytes: configuration.pageBytes,
            createdUnixNanos: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
        if let problem = meta.validationProblem() { throw .invalidArgument(problem) }
        let size = roundUp(JournalFormat.metadataBytes, storage.ioAlignment)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: max(storage.ioAlignment, 4096))
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        meta.encode(into: buffer)
        // Written under a temporary name and renamed: the metadata file is
        // either absent or whole.
        let temporary = JournalFormat.metadataFileName + ".new"
        do {
            if names.contains(temporary) { try storage.remove(temporary) }
            let file = try storage.createZeroFilled(temporary, bytes: size)
            try file.writeDurably(UnsafeRawBufferPointer(buffer), at: 0)
            file.close()
            try storage.rename(temporary, to: JournalFormat.metadataFileName)
        } catch {
            throw JournalError.from(error)
        }
    }

    /// Opens the journal for appending: takes the writer lock, recovers, and
    /// starts the writer (an I/O thread and a segment-preparing thread).
    ///
    /// Recovery reads the whole log once and never writes it; it cuts a
    /// torn tail, or fails on other damage (``RecoveryMode``). On return the
    /// durable LSN is the last record recovery kept, and `recoveryReport`
    /// says what it found. Blocks the calling thread for the recovery.
    ///
    /// - Throws: `JournalError.locked` if another writer (in this process
    ///   or another) holds the directory, `.notFound`, `.notAJournal`,
    ///   `.newerFormat`, `.corruption` (damage followed by valid records, or a
    ///   damaged reader position file: journal-format.md, section 12),
    ///   `.invalidArgument` for inconsistent options, `.io`.
    /// - Complexity: O(log bytes) for recovery.
    public static func open(storage: any StorageDirectory, options: JournalOptions = JournalOptions()) throws(JournalError) -> Journal {
        guard options.inFlightBatchesMax >= 1 && options.inFlightBatchesMax <= 64 else {
            throw .invalidArgument("inFlightBatchesMax must be in 1...64")
        }
        guard options.batchBytesMax >= 4096 else { throw .invalidArgument("batchBytesMax must be at least 4096") }
        // Rollover moves the writer into a spare: with none kept ready it
        // would wait for one forever.
        guard options.spareSegments >= 1 else { throw .invalidArgument("spareSegments must be at least 1") }
        guard options.recycledSegmentsMax >= 0 else { throw .invalidArgument("recycledSegmentsMax must not be negative") }
        guard options.retainedBytesMax >= 0 else { throw .invalidArgument("retainedBytesMax must not be negative") }
        let hold: any StorageLock
        do { hold = try storage.lockExclusive() } catch { throw JournalError.from(error) }
        do {
            let meta = try Recovery.readMetadata(storage, writable: true)
            var recovery = Recovery(storage: storage, metadata: meta, mode: options.recovery, writable: true)
            recovery.verifiesPayloads = !options.testingDefects.contains(.skipPayloadChecksums)
            let recovered = try recovery.run()
            try PositionFile.checkAll(storage)
            let journal = try Journal(storage: storage, metadata: meta, recovered: recovered, options: options, readOnly: false)
            journal.directoryLock = hold
            journal.attachFollowFile()
            try journal.startWriter(recovered: recovered)
            return journal
        } catch {
            hold.unlock()
            throw error
        }
    }

    /// Opens the journal for reading only: no lock, no writer. Recovery runs
    /// (and writes nothing); the durable LSN is the last valid record and
    /// stays there: records a writer appends later are not seen.
    ///
    /// Safe beside a writer in another process. Appends and
    /// `truncate(before:)` fail with `invalidArgument`.
    ///
    /// - Throws: as `open(storage:options:)`, except `.locked`.
    /// - Complexity: O(log bytes) for recovery.
    public static func openForReading(storage: any StorageDirectory, recovery: RecoveryMode = .tolerateTornTail) throws(JournalError) -> Journal {
        try openForReading(storage: storage, recovery: recovery, followingFrom: nil)
    }

    /// `followingFrom`: a follower of a live writer that published this
    /// oldest LSN recovers (`Recovery.followingFrom`).
    static func openForReading(storage: any StorageDirectory, recovery: RecoveryMode, followingFrom: LSN?) throws(JournalError) -> Journal {
        let meta = try Recovery.readMetadata(storage, writable: false)
        var reading = Recovery(storage: storage, metadata: meta, mode: recovery, writable: false)
        reading.followingFrom = followingFrom
        let recovered = try reading.run()
        try PositionFile.checkAll(storage)
        var options = JournalOptions()
        options.recovery = recovery
        options.runtime = .manual
        return try Journal(storage: storage, metadata: meta, recovered: recovered, options: options, readOnly: true)
    }

    /// Removes leftovers, arranges the segments past the log as spares, and
    /// starts the background threads.
    func startWriter(recovered: RecoveredLog) throws(JournalError) {
        do {
            for name in recovered.leftoverNames where name.hasSuffix(".tmp") || name == JournalFormat.metadataFileName + ".new" {
                try storage.remove(name)
            }
            // Files past the log become the next segments when their indices
            // follow on; others are set aside for reuse.
            var expected = segments.last.map { $0.index + 1 }
            for segment in recovered.unusedSegments {
                if expected == nil || segment.index == expected {
                    spares.append(segment)
                    expected = segment.index + 1
                } else {
                    let name = JournalFormat.spareFilePrefix + "\(segment.index)" + JournalFormat.segmentFileSuffix
                    try storage.rename(segment.name, to: name)
                    recyclable.append(name)
                }
            }
        } catch {
            throw JournalError.from(error)
        }
        nextSegmentIndex = max(nextSegmentIndex, (spares.last?.index ?? 0) + 1)
        if options.runtime == .threads {
            ioThread = JoinableThread(name: "journal-io") { [self] in self.runIOThread() }
            preparerThread = JoinableThread(name: "journal-prep") { [self] in self.runPreparerThread() }
        }
    }
}
