import JournalStorage

// Segment preparation: a background thread (or `pump()` in manual runtime)
// keeps `spareSegments` files ready ahead of the writer, reusing files that
// truncation released before zero-filling new ones, so that rollover never
// waits for a file to be written.

extension Journal {

    func needsSpareLocked() -> Bool {
        if closing || poison != nil { return false }
        if spares.count >= options.spareSegments { return false }
        if metadata.segmentCountMax > 0 && segments.count + spares.count >= metadata.segmentCountMax { return false }
        return true
    }

    /// Prepares one spare segment if the writer is short of them: reuses a
    /// released file, or creates one zero-filled. Returns whether it did.
    /// Runs a truncation reader positions held back, if a segment was
    /// activated since (Retention/Retention+Pending.swift), first.
    @discardableResult
    func prepareSegmentIfNeeded() -> Bool {
        runPendingTruncationIfDue()
        lock.lock()
        guard needsSpareLocked() else {
            lock.unlock()
            return false
        }
        let index = nextSegmentIndex
        nextSegmentIndex += 1
        let reuse = recyclable.popLast()
        lock.unlock()
        let name = JournalFormat.segmentFileName(index: index)
        do {
            let file: any StorageFile
            if let reuse {
                try storage.rename(reuse, to: name)
                file = try storage.open(name)
            } else {
                file = try storage.createZeroFilled(name, bytes: metadata.segmentBytes)
            }
            let segment = Segment(index: index, file: file, mapping: try file.mapReadOnly())
            (reuse == nil ? segmentsZeroFilled : segmentsReused).increment()
            lock.lock()
            if reuse == nil { segmentCounts.zeroFilled += 1 } else { segmentCounts.reused += 1 }
            spares.append(segment)
            spares.sort { $0.index < $1.index }
            prepareFailure = nil
        } catch {
            lock.lock()
            prepareFailure = error
            if let reuse { recyclable.append(reuse) }
            logger.error("segment preparation failed", metadata: ["segment": "\(name)", "error": "\(error)"])
        }
        spaceChanged.broadcast()
        let waiters = spaceWaiters
        spaceWaiters.removeAll()
        lock.unlock()
        for c in waiters { c.resume() }
        return true
    }

    func runPreparerThread() {
        while true {
            lock.lock()
            while !closing && !needsSpareLocked() && !pendingTruncationDueLocked() { preparerWork.wait() }
            let stop = closing
            lock.unlock()
            if stop { return }
            prepareSegmentIfNeeded()
            // After a failure, wait for the next demand rather than spin.
            if lock.withLock({ prepareFailure != nil }) {
                lock.withLock { if !closing { preparerWork.wait() } }
            }
        }
    }

    /// How the writer's segments were prepared since open (also reported as
    /// the metrics `<prefix>.segments.zero_filled`, `.reused`, `.deleted`).
    public struct SegmentCounts: Sendable, Equatable {
        /// New files written with zeros: as many bytes again on the disk.
        public var zeroFilled = 0
        /// Files released by `truncate` and renamed into new segments.
        public var reused = 0
        /// Files released by `truncate` and deleted (the pool was full).
        public var deleted = 0
    }

    /// A snapshot of the counts since open. Takes the journal's lock
    /// briefly; the background preparer may change the counts at any time.
    public var segmentPreparation: SegmentCounts { lock.withLock { segmentCounts } }
}
