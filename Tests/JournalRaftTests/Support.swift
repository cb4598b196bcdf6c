@_spi(Testing) import Journal
import JournalRaft
import JournalStorage
import JournalTesting
import TestSupport

/// A small journal (16 KiB segments, so that compaction releases some) on
/// `disk`, created if absent, open in the manual runtime.
func openRaftJournal(on storage: any StorageDirectory, create: Bool) throws -> Journal {
    _ = journalLogsSilenced
    if create { try createRaftJournal(on: storage) }
    var o = JournalOptions()
    o.runtime = .manual
    o.spareSegments = 1
    // Small batches, on ordinary pages: every open touches its whole batch
    // arena, and the cluster tests open journals thousands of times.
    o.batchBytesMax = 16 << 10
    o.inFlightBatchesMax = 2
    o.hugePageBatches = false
    return try Journal.open(storage: storage, options: o)
}

/// Creates the small journal of `openRaftJournal` on `storage`.
func createRaftJournal(on storage: any StorageDirectory) throws {
    _ = journalLogsSilenced
    var c = JournalConfiguration()
    c.segmentBytes = 16 << 10
    c.pageBytes = 4096
    c.blockBytes = 512
    c.recordBytesMax = 8000
    try Journal.create(storage: storage, configuration: c, journalID: 11)
}

/// Pumps `journal` until everything enqueued is durable.
func drain(_ journal: Journal) throws {
    var rounds = 0
    while journal.durableLSN < journal.nextLSN - 1 {
        try journal.pump()
        rounds += 1
        precondition(rounds < 100_000, "the journal makes no progress")
    }
}
