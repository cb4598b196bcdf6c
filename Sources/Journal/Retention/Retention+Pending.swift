import JournalPrimitives
import Logging

// A truncation held back by reader positions stays pending: the journal
// remembers the highest LSN a `truncate(before:)` asked for and asks again
// each time a segment is activated, which is when a position's retained
// bytes grow. So a position that goes past `retainedBytesMax` is overtaken
// at the next rollover, and one that advanced lets the log be released,
// without the application calling `truncate` again: a dead consumer cannot
// keep more than the bound even if the application truncated only once.
// The request is in memory only: after a restart, the application's next
// truncation asks again.

extension Journal {

    /// Records what a truncation asked for (`requested`) and where reader
    /// positions let it cut (`cut`): pending if they held it back, no longer
    /// pending once a truncation asked as much and none held it back.
    /// Lock held.
    func notePendingTruncationLocked(requested: LSN, cut: LSN) {
        if cut < requested {
            retention.pendingBefore = max(retention.pendingBefore, requested)
        } else if requested >= retention.pendingBefore {
            retention.pendingBefore = 0
        }
        retention.pendingCheckedSegment = segments.last?.index ?? 0
    }

    /// Whether a pending truncation should run again: positions held back
    /// records below the requested LSN that are still in the log, and a
    /// segment was activated since it last ran. Lock held.
    func pendingTruncationDueLocked() -> Bool {
        guard !closing, poison == nil, retention.pendingBefore > firstLSN, let last = segments.last else { return false }
        return last.index != retention.pendingCheckedSegment
    }

    /// Runs the pending truncation if it is due (from the segment preparer,
    /// or `pump()` in the manual runtime). Returns whether it ran.
    ///
    /// Skipped while a reader in this process has one of the segments it
    /// may release pinned (tried at the next rollover); a reader that pins
    /// one meanwhile is waited for, as by `truncate(before:)`.
    @discardableResult
    func runPendingTruncationIfDue() -> Bool {
        let requested = lock.withLock { () -> LSN? in
            guard pendingTruncationDueLocked() else { return nil }
            // Checked now, even if it fails: tried again at the next rollover.
            retention.pendingCheckedSegment = segments.last?.index ?? 0
            // Not while a reader has one of the old segments pinned: its
            // closure might wait for this thread (an append needing a spare).
            let pinned = segments.dropLast().contains { $0.readers > 0 && ($0.header?.baseLSN ?? .max) < retention.pendingBefore }
            return pinned ? nil : retention.pendingBefore
        }
        guard let requested else { return false }
        do {
            try truncate(before: requested)
        } catch {
            logger.warning("pending truncation failed", metadata: ["before": "\(requested)", "error": "\(error)"])
        }
        return true
    }
}
