import JournalPrimitives
public import JournalStorage

// Following across processes: a writer publishes to the follow file
// `journal.shm` (journal-format.md, section 11); `openForFollowing` opens a
// journal read-only and keeps it up to date from that file (`LogTail`), so
// that the followers of `Follow/JournalFollower.swift` work in the reading
// process as in the writer's.

extension Journal {
    /// Opens the journal for reading only, and keeps it up to date while a
    /// writer in another process (or this one) appends: its durable LSN
    /// follows the one the writer publishes in the follow file, and its
    /// followers (`follower(from:)`, `follow(from:)`) wake as records become
    /// durable, through the writer's rollovers and truncations, and through
    /// the writer's crash and restart (the next writer publishes to the same
    /// file).
    ///
    /// It never shows a record the writer has not made durable: right after
    /// the open, records recovery found past the writer's published durable
    /// LSN are held back until the writer publishes them. With no writer
    /// ever attached to the follow file, the recovered log is durable.
    /// Beside a live writer, the open concludes nothing from files the
    /// writer may be changing: it reports corruption only of records the
    /// writer published as durable and still holds (journal-format.md,
    /// section 11, "A follower's open").
    /// Runs one thread, which sleeps on a shared futex until the writer
    /// publishes (no polling). `close()` stops it.
    ///
    /// When the writer closes cleanly it marks the follow file: with
    /// `untilWriterCloses`, the followers then end (as they do in the
    /// writer's process when it closes) once they have delivered every
    /// record it made durable. Without it (the default, like `tail -f`)
    /// they wait for the next writer. A writer that crashes marks nothing:
    /// followers wait for its successor either way.
    ///
    /// - Throws: as `openForReading(storage:recovery:)`, and
    ///   `.invalidArgument` if the follow file cannot be mapped shared (a
    ///   file system without shared memory support), `.permissionDenied`
    ///   when it is absent and cannot be created, `.notAJournal` or
    ///   `.newerFormat` when it is not a follow file this version reads.
    /// - Complexity: O(log bytes) for recovery.
    public static func openForFollowing(
        storage: any StorageDirectory, recovery: RecoveryMode = .tolerateTornTail, untilWriterCloses: Bool = false
    ) throws(JournalError) -> Journal {
        // A directory that holds no journal gets no follow file. What the
        // writer published decides what recovery may conclude.
        _ = try Recovery.readMetadata(storage, writable: false)
        let shared = try SharedFollowState(storage: storage, create: true)
        let (journal, cursor) = try recoverFollowing(storage: storage, recovery: recovery, shared: shared)
        do {
            try journal.startTail(shared, cursor: cursor, endsWithWriter: untilWriterCloses)
        } catch {
            journal.close()
            throw error
        }
        return journal
    }

    /// Brings a journal open for following (`openForFollowing`) up to the
    /// durable LSN the writer has published by the call, reading on in the
    /// calling thread rather than waiting for the journal's tail thread to
    /// wake: a record whose append the writer acknowledged before the call
    /// is readable here when it returns (read-your-writes across
    /// processes). Any other journal has nothing to catch up with: its
    /// durable LSN is returned as it is.
    ///
    /// - Returns: the journal's durable LSN.
    /// - Throws: `.closed`; `.invalidArgument` from inside a handler of
    ///   this journal's listener (`listen(from:onRecord:onEnd:)`), whose
    ///   thread may hold the lock this takes; `.lsnOutOfRange` when the
    ///   writer released records this process had yet to read (open the
    ///   journal again), `.corruption` of records the writer published as
    ///   durable.
    @discardableResult
    public func catchUpWithWriter() throws(JournalError) -> LSN {
        try refuseInsideListener("catchUpWithWriter")
        guard !lock.withLock({ closed }) else { throw .closed }
        try tail?.catchUp()
        return durableLSN
    }

    /// A writer session starts publishing to the follow file, if the
    /// directory can hold one (a simulated disk has none: nothing follows it).
    func attachFollowFile() {
        do {
            let shared = try SharedFollowState(storage: storage, create: true)
            lock.withLock {
                shared.attachWriter(epoch: epoch, durable: durable.load(ordering: .relaxed), oldest: firstLSN)
                // A writer that crashed in a truncation may have left its floor.
                shared.publishRetentionFloor(firstLSN)
                followers.attach(shared)
            }
        } catch {
            logger.debug("no follow file; followers in other processes will not see this writer", metadata: ["error": "\(error)"])
        }
    }

    /// Starts the tail at `cursor`, the end of the recovered log.
    private func startTail(_ shared: SharedFollowState, cursor: TailCursor, endsWithWriter: Bool) throws(JournalError) {
        lock.withLock {
            if shared.incarnation != 0 {
                durable.store(min(lastLSN, shared.durableLSN), ordering: .releasing)
            }
        }
        let tail = LogTail(journal: self, shared: shared, cursor: cursor, endsWithWriter: endsWithWriter)
        self.tail = tail
        tail.start()
    }

    /// The tail's cursor at the end of the recovered log: just past its last
    /// record. Lock held.
    func recoveredEndLocked() throws(JournalError) -> TailCursor {
        let empty = ChainState(lastCRC: chainedCRC, lastLSN: lastLSN, lastEpoch: 0)
        guard let segment = segments.last, let header = segment.header else {
            return TailCursor(segment: nil, decoder: nil, end: JournalFormat.segmentHeaderBytes, chain: empty)
        }
        let decoder = decoder(for: segment, header: header)
        guard let entry = segment.indexEntry(atOrBefore: lastLSN),
              var record = decoder.record(at: entry.offset, continuing: nil) else {
            // No record starts in the last segment: it continues its header.
            let chain = ChainState(lastCRC: segment.headerCRC, lastLSN: header.baseLSN - 1, lastEpoch: header.epoch)
            return TailCursor(segment: segment, decoder: decoder, end: JournalFormat.segmentHeaderBytes, chain: chain)
        }
        while record.lsn < lastLSN, let next = decoder.record(after: record.end, continuing: record.chainAfter) {
            record = next
        }
        guard record.lsn == lastLSN else {
            throw .corruption(segment: segment.name, offset: record.end, detail: "the recovered log's last record \(lastLSN) does not decode")
        }
        return TailCursor(segment: segment, decoder: decoder, end: record.end, chain: record.chainAfter)
    }

    /// The tail read on to `lsn`, which the writer made durable: publish it
    /// here, waking this process's followers.
    func publishTail(durable lsn: LSN) {
        lock.lock()
        lastLSN = max(lastLSN, lsn)
        let ready = publishDurableLocked(lsn)
        lock.unlock()
        ready.wake(followers)
    }

    /// The writer's oldest LSN is `lsn`: forget the segments below it (their
    /// files may be reused). Mappings a reader has pinned stay mapped.
    func applyOldest(_ lsn: LSN) {
        lock.withLock {
            guard lsn > firstLSN else { return }
            while segments.count > 1, let next = segments[1].header, next.baseLSN <= lsn {
                segments.removeFirst()
            }
            firstLSN = lsn
        }
    }
}
