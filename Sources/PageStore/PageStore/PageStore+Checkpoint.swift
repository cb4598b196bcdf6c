public import Journal
import JournalPrimitives

// Checkpoints (Docs/page-store.md, "Checkpoints"): apply, write the data
// file as a snapshot into the slot not in use (header last), switch to it,
// and truncate the journal as `JournalRetention` allows.

/// The result of a checkpoint.
public struct CheckpointReport: Sendable, Equatable {
    /// The snapshot's LSN: it holds every commit at or below it.
    public var lsn: LSN
    /// The snapshot slot written (0 or 1).
    public var slot: Int
    /// Pages in the snapshot.
    public var pageCount: Int
    /// Bytes written to the slot.
    public var bytesWritten: Int
    /// Journal segments the truncation after it released.
    public var segmentsReleased: Int
    /// Time the checkpoint took.
    public var nanoseconds: UInt64
}

extension PageStore {
    /// Applies what it can, writes the data file as a snapshot into the slot
    /// not in use (durably, header last), switches to it, and truncates the
    /// journal (see `JournalRetention`). Commits go on meanwhile; applies
    /// wait. Returns once the snapshot is durable.
    ///
    /// Blocks the calling thread for the snapshot's writes, and first for a
    /// checkpoint already running (on the maintenance thread or another
    /// caller). Thread-safe. Read transactions are never blocked.
    ///
    /// - Throws: `PageStoreError.closed`, `.journal` if the store is
    ///   poisoned or truncation fails, `.io` if a snapshot write fails (the
    ///   previous snapshot stays in use), `.dataFile`.
    /// - Complexity: O(pages in the store × page bytes).
    @discardableResult
    public func checkpoint() throws(PageStoreError) -> CheckpointReport {
        guard let report = try checkpoint(automatic: false, wait: true) else { preconditionFailure("a waiting checkpoint runs") }
        return report
    }

    /// A checkpoint; returns its report, or nil if it did not run. `automatic`: only if the
    /// journal is still past its threshold once the slot lock is held (a
    /// checkpoint that ran meanwhile may have done the work). `wait`: wait
    /// for a running checkpoint, else skip.
    func checkpoint(automatic: Bool, wait: Bool) throws(PageStoreError) -> CheckpointReport? {
        let start = monotonicNanos()
        let body = { (slotState: inout SlotState) throws(PageStoreError) -> CheckpointReport? in
            let state = self.table.withLock { s -> (closed: Bool, poison: JournalError?, need: MaintenanceNeed) in
                (s.closed, s.poison, self.maintenanceNeed(s))
            }
            if state.closed { throw .closed }
            if let poison = state.poison { throw .journal(poison) }
            if automatic && !state.need.checkpoint { return nil }
            return try self.checkpointLocked(&slotState, start: start)
        }
        if wait { return try slots.withLock { s throws(PageStoreError) in try body(&s) } }
        let result: Result<CheckpointReport?, PageStoreError>? = slots.withLockIfAvailable { s in
            do throws(PageStoreError) { return .success(try body(&s)) } catch { return .failure(error) }
        }
        return try result?.get() ?? nil
    }

    /// Checkpoint steps (1)-(5) of Docs/page-store.md. Slot lock held.
    private func checkpointLocked(_ slotState: inout SlotState, start: UInt64) throws(PageStoreError) -> CheckpointReport {
        // The journal threshold counts from here; restored if this fails, so
        // the next commit past it tries again.
        let oldBase = table.withLock { s in
            defer { s.checkpointBaseBytes = s.committedBytes }
            return s.checkpointBaseBytes
        }
        do throws(PageStoreError) {
            return try writeSnapshotAndTruncate(&slotState, start: start)
        } catch {
            table.withLock { $0.checkpointBaseBytes = oldBase }
            throw error
        }
    }

    private func writeSnapshotAndTruncate(_ slotState: inout SlotState, start: UInt64) throws(PageStoreError) -> CheckpointReport {
        let (header, slot) = try applyLock.withLock { () throws(PageStoreError) -> (SnapshotHeader, Int) in
            try applyLocked()
            let (lsn, txid) = table.withLock { s in (s.appliedLSN, s.nextTxID - 1) }
            let slot = slotState.current.map { 1 - $0.slot } ?? 0
            let header = SnapshotHeader(
                pageBytes: pageBytes, pageCount: (dataFile.length + pageBytes - 1) / pageBytes, lsn: lsn, storeID: storeID,
                sequence: (slotState.current?.header.sequence ?? 0) + 1, lastTxID: txid, tableCRC: 0)
            let io = SnapshotIO(storage: location.root, pageBytes: pageBytes)
            try io.write(slot: slot, header: header, from: dataFile)
            return (header, slot)
        }
        slotState.previous = slotState.current
        slotState.current = (slot, header)
        let keepFrom: LSN
        switch options.journalRetention {
        case .previousSnapshot: keepFrom = (slotState.previous?.header.lsn ?? 0) + 1
        case .newestSnapshot: keepFrom = header.lsn + 1
        }
        let released: Int
        do throws(JournalError) { released = try journal.truncate(before: keepFrom) } catch { throw PageStoreError.from(error) }
        let report = CheckpointReport(
            lsn: header.lsn, slot: slot, pageCount: header.pageCount, bytesWritten: header.fileBytes(alignment: location.root.ioAlignment),
            segmentsReleased: released, nanoseconds: monotonicNanos() - start)
        maintenanceState.withLock { $0.checkpoints += 1 }
        logger.info("checkpoint", metadata: ["report": "\(report)"])
        return report
    }
}
