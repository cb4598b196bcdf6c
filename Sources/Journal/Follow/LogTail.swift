import CJournalConcurrency
import JournalPrimitives
import JournalStorage
import Synchronization

// The tail of a journal followed from another process: a thread of the
// reading process sleeps on the follow file (`SharedFollowState`) until the
// writer publishes a higher durable LSN, then decodes the new records from
// the segments' mappings (entering the next segment on rollover, dropping
// segments below the writer's oldest LSN), and publishes that durable LSN
// in this process, where it wakes the journal's followers as a writer's
// durability does. It never publishes past the writer's durable LSN: the
// bytes beyond may be written but not yet durable.

/// Where the tail has read to: the last record decoded and what follows it.
struct TailCursor {
    var segment: Segment?
    var decoder: SegmentDecoder?
    /// Just past the last record decoded, in `segment`.
    var end: Int
    var chain: ChainState
}

/// The thread that keeps a journal open for following up to date.
final class LogTail: @unchecked Sendable {
    // @unchecked: the cursor and the notes are guarded by `reading`;
    // `stopping` is atomic.
    let shared: SharedFollowState
    private unowned let journal: Journal
    /// Taken to read on: by the tail thread, and by a caller of `catchUp()`
    /// that will not wait for it. Taken before the journal's lock.
    private let reading = ConditionLock()
    private var cursor: TailCursor
    /// Records decoded but not yet noted in their segment (reused).
    private var pendingNotes: [(lsn: LSN, offset: Int)] = []
    private let stopping = Atomic<Bool>(false)
    private var thread: JoinableThread?
    /// Whether the journal's followers end when the writer closes cleanly
    /// (`openForFollowing(untilWriterCloses:)`).
    private let endsWithWriter: Bool
    #if DEBUG
    /// Test seam: runs on the tail thread before it reads on to a new
    /// publication, outside `reading` (a test holds the thread there to see
    /// what a reader gets without it).
    let readingHook = LockedValue<(@Sendable () -> Void)?>(nil)
    #endif

    init(journal: Journal, shared: SharedFollowState, cursor: TailCursor, endsWithWriter: Bool) {
        self.journal = journal
        self.shared = shared
        self.cursor = cursor
        self.endsWithWriter = endsWithWriter
    }

    func start() {
        thread = JoinableThread(name: "journal-tail") { [self] in run() }
    }

    /// Stops the thread and waits for it. Idempotent.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shared.wake()
        thread?.join()
    }

    /// Throws `lsnOutOfRange` if the writer's oldest LSN, loaded after the
    /// bytes of `lsn` and later records were read, is above `lsn`: their
    /// file may have been released and reused while they were read.
    func checkNotReleased(_ lsn: LSN) throws(JournalError) {
        cjournal_fence()
        let oldest = shared.oldestLSN
        if oldest > lsn { throw .lsnOutOfRange(requested: lsn, first: oldest, durable: shared.durableLSN) }
    }

    private func run() {
        var oldest = shared.oldestLSN
        var checkedNanos = monotonicNanos()
        while !stopping.load(ordering: .acquiring) {
            // `closedIncarnation` before `durableLSN`: the writer stored its
            // last durable LSN before it marked its close.
            let writerClosed = endsWithWriter && shared.writerClosed
            let published = shared.durableLSN
            do {
                if published > journal.durableLSN {
                    #if DEBUG
                    readingHook.withLock { $0 }?()
                    #endif
                    try readOn(to: published)
                }
                if writerClosed && journal.durableLSN >= published {
                    journal.followers.close(durable: journal.durableLSN)
                    return
                }
                // A journal deleted or replaced publishes nothing more here:
                // checked at most once per interval, and at least once per
                // interval while asleep (the futex wait times out).
                let now = monotonicNanos()
                if now &- checkedNanos >= SharedFollowState.linkCheckNanos {
                    checkedNanos = now
                    try shared.checkLinked()
                }
            } catch {
                // Overtaken by the writer's truncation: an outcome the
                // followers report (fell behind), not a failure to log.
                var overtaken = false
                if case .lsnOutOfRange = error { overtaken = true }
                journal.logger.log(level: overtaken ? .info : .error, "following stopped", metadata: ["error": "\(error)"])
                journal.followers.fail(error)
                return
            }
            oldest = shared.oldestLSN
            journal.applyOldest(oldest)
            let durable = journal.durableLSN
            shared.sleep {
                stopping.load(ordering: .acquiring) || shared.durableLSN > durable || shared.oldestLSN != oldest
                    || (endsWithWriter && shared.writerClosed)
            }
        }
    }

    /// Reads on, in the calling thread, through the durable LSN the writer
    /// has published by now, and publishes it in this process: every record
    /// the writer acknowledged before the call is then readable here, though
    /// the tail thread may not have woken yet (read-your-writes across
    /// processes). Returns at once if the tail has read that far.
    ///
    /// - Throws: what stops the tail: `lsnOutOfRange` when the writer
    ///   released records this process had yet to read, `corruption`.
    func catchUp() throws(JournalError) {
        let published = shared.durableLSN
        if published > journal.durableLSN { try readOn(to: published) }
    }

    /// Reads on through `published`, a durable LSN the writer published,
    /// and publishes what was read in this process, unless another thread
    /// read that far first.
    private func readOn(to published: LSN) throws(JournalError) {
        try reading.withLock { () throws(JournalError) in
            guard published > journal.durableLSN else { return }
            let reached = try advance(to: published)
            journal.publishTail(durable: min(reached, published))
        }
    }

    /// Decodes the records after the cursor through `target`, noting them in
    /// their segments. Returns the LSN reached (`target`, unless the writer
    /// restarted with a shorter log).
    private func advance(to target: LSN) throws(JournalError) -> LSN {
        while cursor.chain.lastLSN < target {
            if let decoder = cursor.decoder, let segment = cursor.segment {
                decodeRecords(of: segment, decoder, through: target)
            }
            if cursor.chain.lastLSN < target { try enterNextSegment() }
        }
        return cursor.chain.lastLSN
    }

    /// Decodes the cursor's segment on through `target` (or its last whole
    /// record), then notes the records in the segment under one hold of
    /// the journal's lock: the lock the appenders of this process and its
    /// followers' pins take is held once per publication, not per record.
    private func decodeRecords(of segment: Segment, _ decoder: SegmentDecoder, through target: LSN) {
        pendingNotes.removeAll(keepingCapacity: true)
        while cursor.chain.lastLSN < target, let r = decoder.record(after: cursor.end, continuing: cursor.chain) {
            pendingNotes.append((r.lsn, r.start))
            cursor.end = r.end
            cursor.chain = r.chainAfter
        }
        guard !pendingNotes.isEmpty else { return }
        journal.lock.withLock {
            for (lsn, offset) in pendingNotes where lsn > segment.lastLSN { segment.noteRecord(lsn: lsn, offset: offset) }
        }
    }

    /// Moves the cursor into the segment whose header continues the chain:
    /// the journal's next live segment if it has one, or else a file in the
    /// directory (rollover since the journal was opened).
    private func enterNextSegment() throws(JournalError) {
        let chain = cursor.chain
        let known = journal.lock.withLock { () -> Segment? in
            guard let current = cursor.segment, let i = journal.segments.firstIndex(where: { $0 === current }) else {
                return journal.segments.first
            }
            return i + 1 < journal.segments.count ? journal.segments[i + 1] : nil
        }
        let segment: Segment
        if let known, let header = known.header, header.baseLSN == chain.lastLSN + 1 {
            segment = known
        } else {
            segment = try findSegment(continuing: chain)
            journal.lock.withLock { journal.segments.append(segment) }
        }
        guard let header = segment.header else { preconditionFailure("a live segment has a header") }
        cursor = TailCursor(
            segment: segment, decoder: journal.decoder(for: segment, header: header),
            end: JournalFormat.segmentHeaderBytes,
            chain: ChainState(lastCRC: segment.headerCRC, lastLSN: header.baseLSN - 1, lastEpoch: header.epoch))
    }

    /// The segment file whose header is active and continues `chain`.
    private func findSegment(continuing chain: ChainState) throws(JournalError) -> Segment {
        let after = cursor.segment?.index ?? 0
        let names: [String]
        do { names = try journal.storage.fileNames() } catch { throw JournalError.from(error) }
        let candidates = names.compactMap { JournalFormat.segmentIndex(fileName: $0) }.filter { $0 > after }.sorted()
        for index in candidates {
            guard let segment = try? openSegment(index: index), let header = segment.header,
                  header.baseLSN == chain.lastLSN + 1, header.previousCRC == chain.lastCRC, header.epoch >= chain.lastEpoch else {
                continue
            }
            return segment
        }
        let oldest = shared.oldestLSN
        if oldest > chain.lastLSN + 1 {
            // The writer released the segments this process had yet to read.
            throw .lsnOutOfRange(requested: chain.lastLSN + 1, first: oldest, durable: shared.durableLSN)
        }
        throw .corruption(segment: JournalFormat.segmentFileName(index: after + 1), offset: 0,
                          detail: "no segment continues the log after LSN \(chain.lastLSN), which the writer published as durable")
    }

    private func openSegment(index: UInt64) throws -> Segment {
        let file = try journal.storage.openReadOnly(JournalFormat.segmentFileName(index: index))
        let segment = Segment(index: index, file: file, mapping: try file.mapReadOnly())
        guard let (header, crc) = try? SegmentHeader.decode(segment.bytes),
              header.journalID == journal.metadata.journalID, header.segmentIndex == index,
              header.blockBytes == journal.metadata.blockBytes, header.pageBytes == journal.metadata.pageBytes else {
            file.close()
            throw JournalError.invalidArgument("segment \(index) is not active")
        }
        segment.header = header
        segment.headerCRC = crc
        return segment
    }
}
