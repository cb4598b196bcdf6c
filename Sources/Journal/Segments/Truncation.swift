import JournalStorage

// Truncation: releasing the segments below an LSN, keeping their files for
// reuse up to `recycledSegmentsMax` (journal-format.md, section 8).

extension Journal {

    /// Releases every segment whose records all have LSNs below `lsn`. The
    /// segment being written is never released, nor one whose successor's
    /// first record is not durable yet: the successor's header goes to the
    /// disk in that record's batch, and until it is there the successor
    /// cannot start the log (a crash could tear it, leaving a log whose
    /// start is damaged and proves records durable that it no longer
    /// holds). Released files are kept for
    /// reuse (up to `recycledSegmentsMax`) or deleted; either is durable when
    /// this returns, except that a file kept for reuse may reappear in the log
    /// after a crash (its rename is made durable by the next directory
    /// change). Waits for readers of released segments to finish.
    /// Returns the number of segments released.
    ///
    /// Blocks the calling thread while a reader has a released segment
    /// pinned, and for the renames or removals. Thread-safe beside appenders
    /// and readers; never call it from inside a read's closure. Records at
    /// or above `lsn` are never released; `oldestLSN` moves up to the first
    /// record kept.
    ///
    /// Reader positions (`ReaderPosition`) hold truncation back: no segment
    /// holding a record at or above a position is released, unless that
    /// position keeps more than `JournalOptions.retainedBytesMax`; then
    /// truncation goes past it and its reader gets
    /// `JournalError.readerFellBehind`. Named positions are read from their
    /// files first (journal-format.md, section 12). A truncation positions
    /// held back stays pending: it runs again each time the writer
    /// activates a segment (on the segment preparer's thread, or in
    /// `pump()`), so the bound holds, and an advanced position frees the
    /// log, without another call.
    ///
    /// - Throws: `JournalError.invalidArgument` on a journal open for
    ///   reading or from inside a handler of its listener
    ///   (`listen(from:onRecord:onEnd:)`), `.io` if a rename or removal
    ///   fails.
    /// - Complexity: O(live segments) plus one file operation per segment
    ///   released.
    @discardableResult
    public func truncate(before lsn: LSN) throws(JournalError) -> Int {
        if isReadOnly { throw .invalidArgument("journal is open for reading only") }
        try refuseInsideListener("truncate")
        return try retention.truncating.withLock { (_: inout Void) throws(JournalError) -> Int in
            // Publish the floor, then look at the positions (Retention/Retention.swift).
            publishRetentionFloor(lsn)
            let named: [(name: String, lsn: LSN)]
            do throws(JournalError) { named = try namedPositions() } catch {
                publishRetentionFloor(oldestLSN)
                throw error
            }
            let ignoring = defects?.defects.contains(.truncateIgnoringPositions) == true
            return try releaseSegments(before: lsn, keeping: ignoring ? [] : named)
        }
    }

    private func publishRetentionFloor(_ lsn: LSN) {
        retention.floor.store(lsn, ordering: .sequentiallyConsistent)
        followers.publishRetentionFloor(lsn)
    }

    /// Truncation once the named positions are known.
    private func releaseSegments(before requested: LSN, keeping named: [(name: String, lsn: LSN)]) throws(JournalError) -> Int {
        lock.lock()
        let lsn = retentionCutLocked(requested: requested, named: named)
        notePendingTruncationLocked(requested: requested, cut: lsn)
        var released: [Segment] = []
        while segments.count > 1, let next = segments[1].header, next.baseLSN <= lsn, next.baseLSN <= durable.load(ordering: .relaxed) {
            released.append(segments.removeFirst())
        }
        if let first = segments.first?.header {
            firstLSN = max(firstLSN, first.baseLSN)
        }
        // Followers in other processes learn it before the files go.
        if !released.isEmpty { followers.publishOldest(firstLSN) }
        publishRetentionFloor(firstLSN)
        let lags = named.map { statusLocked(name: $0.name, lsn: $0.lsn) }
        while released.contains(where: { $0.readers > 0 }) { readersDone.wait() }
        lock.unlock()
        recordLag(lags)
        for segment in released { try release(segment) }
        if !released.isEmpty {
            logger.info("journal truncated", metadata: ["before": "\(lsn)", "segments": "\(released.count)"])
            lock.withLock {
                preparerWork.signal()
                spaceChanged.broadcast()
            }
            let waiters = lock.withLock { () -> [UnsafeContinuation<Void, Never>] in
                let w = spaceWaiters
                spaceWaiters.removeAll()
                return w
            }
            for c in waiters { c.resume() }
        }
        return released.count
    }

    /// Keeps a released segment's file for reuse, or deletes it when the
    /// pool is full.
    private func release(_ segment: Segment) throws(JournalError) {
        do {
            let keep = lock.withLock { recyclable.count < options.recycledSegmentsMax }
            if keep {
                // Lazily: if a crash undoes it, the log just starts
                // earlier again (truncation promises that older records
                // are not needed, not that they are gone); the rename
                // that reuses the file is durable and carries it along.
                let name = JournalFormat.spareFilePrefix + "\(segment.index)" + JournalFormat.segmentFileSuffix
                try storage.renameLazily(segment.name, to: name)
                lock.withLock { recyclable.append(name) }
            } else {
                try storage.remove(segment.name)
                segmentsDeleted.increment()
                lock.withLock { segmentCounts.deleted += 1 }
            }
        } catch {
            throw JournalError.from(error)
        }
    }
}
