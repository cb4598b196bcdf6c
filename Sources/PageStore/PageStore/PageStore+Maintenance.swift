import Journal

// # Automatic maintenance: applies and checkpoints without a caller
//
// Two bounds keep a long-running writer from growing memory or disk:
//
//   table    page versions in the translation table; past
//            `applyThresholdVersions`, journaled pages are applied to the
//            data file and dropped from the table (A1-A3);
//   journal  bytes of transaction records committed since the last
//            checkpoint began; past `checkpointThresholdJournalBytes`, a
//            checkpoint writes a snapshot and truncates the journal.
//
// Who does the work:
//
//   .threads runtime  a maintenance thread, woken by the commit that
//                     crosses a threshold (one wake-up per crossing, not one
//                     per commit), applies and checkpoints off the
//                     committers' path. If committers outrun it by
//                     `maintenanceBackpressureFactor` times a threshold, the
//                     committer that notices does the work itself (waiting
//                     for a running checkpoint first): the hard bound.
//   .manual runtime   no thread (the simulation stays deterministic): the
//                     committing thread does the work when it crosses a
//                     threshold, after its commit is queued.
//
// A failure of automatic work never fails the commit that triggered it (the
// commit is queued and has its LSN by then): it is logged and kept in
// `lastMaintenanceError`; the next crossing tries again.
//
// Readers holding old snapshots hold the apply horizon back; the table and
// the journal then grow until they end (a checkpoint can only save what was
// applied).

/// What maintenance a commit asks for, decided under the table lock.
struct MaintenanceNeed: Equatable {
    var apply = false
    var checkpoint = false
    /// Past the hard bound: the committer works inline.
    var urgent = false

    var any: Bool { apply || checkpoint }
}

extension PageStore {
    /// Whether the table or the journal is past its threshold. Table lock held.
    func maintenanceNeed(_ s: TableState) -> MaintenanceNeed {
        var need = MaintenanceNeed()
        let factor = max(1, options.maintenanceBackpressureFactor)
        let versionsMax = max(1, options.applyThresholdVersions)
        if s.pages.versionCount > versionsMax {
            need.apply = true
            if s.pages.versionCount > versionsMax * factor { need.urgent = true }
        }
        if let bytesMax = options.checkpointThresholdJournalBytes {
            let since = s.committedBytes - s.checkpointBaseBytes
            if since > bytesMax {
                need.checkpoint = true
                if since > max(1, bytesMax) * factor { need.urgent = true }
            }
        }
        return need
    }

    /// Applies and checkpoints as the thresholds ask.
    /// Failures are logged and kept, never thrown: the commit that asked is
    /// already queued. `urgent`: the hard bound was crossed, so wait for a
    /// running apply or checkpoint rather than skip.
    func maintain(urgent: Bool) {
        let need = table.withLock { s -> MaintenanceNeed? in
            s.closed || s.poison != nil ? nil : maintenanceNeed(s)
        }
        guard let need, need.any else { return }
        do throws(PageStoreError) {
            if need.checkpoint {
                // A checkpoint applies first: it bounds the table too.
                let report = try checkpoint(automatic: true, wait: urgent || maintenanceThread != nil)
                if report != nil { maintenanceState.withLock { $0.automaticCheckpoints += 1 } }
            } else if urgent || maintenanceThread != nil {
                try apply()
            } else {
                try applyIfIdle()
            }
        } catch {
            if case .closed = error { return }
            logger.error("automatic maintenance failed", metadata: ["error": "\(error)"])
            maintenanceState.withLock { $0.lastError = error }
        }
    }
}
