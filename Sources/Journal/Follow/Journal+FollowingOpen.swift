import CJournalConcurrency
import JournalPrimitives
import JournalStorage

// How a follower in another process recovers the log while a writer may be
// changing the files under it (journal-format.md, section 11, "A follower's
// open"). Recovery in following mode concludes nothing from bytes the
// writer may be writing or files it may be releasing or recycling; the
// result is then checked
// against what the writer published before and after the files were read,
// and read again when the writer released segments or restarted meanwhile.
// Only a log that misses records the writer had published as durable, with
// nothing released and no restart while it was read, is corruption.

/// What a writer had published in the follow file at one moment.
struct PublishedLog: Equatable {
    var incarnation: UInt64
    var durableLSN: LSN
    var oldestLSN: LSN
}

extension SharedFollowState {
    /// The writer's publication, loaded with a full fence on either side so
    /// that it is ordered with the reads of the segment files around it.
    func published() -> PublishedLog {
        cjournal_fence()
        let state = PublishedLog(incarnation: incarnation, durableLSN: durableLSN, oldestLSN: oldestLSN)
        cjournal_fence()
        return state
    }
}

extension Journal {
    /// Reads of the files before a changing writer counts as a stable
    /// verdict; each further one follows a release or restart the writer
    /// published while the files were read.
    static let followingRecoveryAttemptsMax = 64

    /// Recovers the log as a follower: read-only, and judged against the
    /// follow file `shared`. With no writer ever published there, the files
    /// are the whole log and recovery judges them as `openForReading` does.
    /// Returns the journal and the tail's cursor at the end of its log,
    /// found while the read is checked (its segment too may be released).
    ///
    /// - Throws: as `openForReading(storage:recovery:)`; `.corruption` when
    ///   the log misses records the writer published as durable and holds,
    ///   with no release or writer restart while it was read.
    static func recoverFollowing(
        storage: any StorageDirectory, recovery: RecoveryMode, shared: SharedFollowState
    ) throws(JournalError) -> (Journal, TailCursor) {
        var attempt = 0
        while true {
            attempt += 1
            let before = shared.published()
            let opened = readFollowing(storage: storage, recovery: recovery, followingFrom: before.incarnation != 0 ? before.oldestLSN : nil)
            let after = shared.published()
            // Released segments or a new writer session: what was read may
            // have changed under the read.
            let changed = after.incarnation != before.incarnation || after.oldestLSN != before.oldestLSN
            let retry = changed && attempt < followingRecoveryAttemptsMax
            switch opened {
            case .failure(let error):
                if retry { continue }
                throw error
            case .success(let (journal, cursor)):
                // With no writer ever published, the files were at rest.
                guard after.incarnation != 0, let missing = journal.missingPublished(before: before, after: after) else {
                    return (journal, cursor)
                }
                journal.close()
                if retry { continue }
                throw missing
            }
        }
    }

    /// One read of the files: the journal and the end of its log.
    private static func readFollowing(
        storage: any StorageDirectory, recovery: RecoveryMode, followingFrom: LSN?
    ) -> Result<(Journal, TailCursor), JournalError> {
        let journal: Journal
        do {
            journal = try openForReading(storage: storage, recovery: recovery, followingFrom: followingFrom)
        } catch {
            return .failure(error)
        }
        do {
            let cursor = try journal.lock.withLock { () throws(JournalError) -> TailCursor in try journal.recoveredEndLocked() }
            return .success((journal, cursor))
        } catch {
            journal.close()
            return .failure(error)
        }
    }

    /// The error for a recovered log that lacks records the writer
    /// published: it must hold every LSN from the writer's oldest (as
    /// published after the read) through its durable LSN (as published
    /// before it). Nil when it holds them.
    private func missingPublished(before: PublishedLog, after: PublishedLog) -> JournalError? {
        lock.withLock { () -> JournalError? in
            let report = recoveryReport
            if lastLSN < before.durableLSN {
                return .corruption(
                    segment: report.endSegment, offset: report.endOffset,
                    detail: "the log ends at LSN \(lastLSN), but its writer published LSN \(before.durableLSN) as durable")
            }
            if let first = segments.first, let base = first.header?.baseLSN, base > after.oldestLSN {
                return .corruption(
                    segment: first.name, offset: 0,
                    detail: "the log starts at LSN \(base), but its writer holds records from LSN \(after.oldestLSN)")
            }
            return nil
        }
    }
}
