public import Journal

/// Figures of an open store, read-only: what monitoring and benchmarks need
/// of the store's journal and table without a handle on them (appending to
/// or truncating the journal behind the store would break its invariants).
///
/// Each figure is read on its own: under concurrent commits they need not
/// describe one instant.
public struct PageStoreStatistics: Sendable, Equatable {
    /// The newest commit on stable storage.
    public var durableLSN: LSN
    /// The oldest commit the journal still holds (earlier ones are in the
    /// snapshots only).
    public var journalOldestLSN: LSN
    /// Journal segment files that hold records.
    public var journalSegmentCount: Int
    /// Bytes of those segments on disk: their count times the segment size.
    public var journalBytes: Int
    /// Bytes of transaction records committed since the last checkpoint
    /// began (what `checkpointThresholdJournalBytes` bounds).
    public var journalBytesSinceCheckpoint: Int
    /// Bytes of transaction records committed since the store opened (the
    /// journal's payloads, before its framing): what commits cost in
    /// journal bytes.
    public var committedRecordBytes: Int
    /// Page versions held in the page translation table (what
    /// `applyThresholdVersions` bounds).
    public var tableVersionCount: Int
    /// Highest page number ever written plus one.
    public var pageCount: UInt64
    /// Bytes of RAM the data file holds.
    public var dataFileAllocatedBytes: Int
    /// Checkpoints completed since the store opened, explicit or automatic.
    public var checkpointCount: Int
    /// Of those, the checkpoints the store started itself (journal
    /// threshold crossed).
    public var automaticCheckpointCount: Int
}

extension PageStore {
    /// The store's figures now. Takes the store's locks briefly, one
    /// figure group at a time; for monitoring, not a hot path.
    /// - Complexity: O(journal segments).
    public var statistics: PageStoreStatistics {
        let table = self.table.withLock { s in
            (versions: s.pages.versionCount, pageCount: s.pageCount, committed: s.committedBytes,
             sinceCheckpoint: s.committedBytes - s.checkpointBaseBytes)
        }
        let checkpoints = maintenanceState.withLock { s in (all: s.checkpoints, automatic: s.automaticCheckpoints) }
        let segmentCount = journal.segmentSummaries.count
        return PageStoreStatistics(
            durableLSN: durableLSN, journalOldestLSN: journal.oldestLSN, journalSegmentCount: segmentCount,
            journalBytes: segmentCount * journal.configuration.segmentBytes, journalBytesSinceCheckpoint: table.sinceCheckpoint,
            committedRecordBytes: table.committed,
            tableVersionCount: table.versions, pageCount: table.pageCount, dataFileAllocatedBytes: dataFile.allocatedBytes,
            checkpointCount: checkpoints.all, automaticCheckpointCount: checkpoints.automatic)
    }
}
