import Foundation
import Journal
import JournalFileStorage
import JournalStorage
import TestSupport
import Testing

/// A small journal configuration that exercises rollover and fragmentation.
func smallConfiguration(segmentBytes: Int = 256 << 10, segmentCountMax: Int = 0) -> JournalConfiguration {
    var c = JournalConfiguration()
    c.segmentBytes = segmentBytes
    c.segmentCountMax = segmentCountMax
    c.recordBytesMax = 64 << 10
    c.pageBytes = 32 << 10
    return c
}

func payload(_ lsnHint: Int, bytes: Int) -> [UInt8] {
    var g = UInt64(truncatingIfNeeded: lsnHint) &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<bytes).map { _ in
        g ^= g << 13; g ^= g >> 7; g ^= g << 17
        return UInt8(truncatingIfNeeded: g)
    }
}

/// Reopens the journal at `path` (closed, after a poisoning say): recovery
/// finds its log ending at `lastLSN`, and appends go on after it.
func expectReopenedToAppend(_ path: String, after lastLSN: LSN) throws {
    let reopened = try Journal.open(path: path)
    #expect(reopened.recoveryReport.lastLSN == lastLSN)
    #expect(try reopened.appendBlocking([6]) == lastLSN + 1)
    reopened.close()
}

/// A journal in `dir` (128 KiB segments) holding 200 records of 1000 B,
/// truncated before LSN 150: its oldest LSN lies above 1, at most 150.
func openTruncatedJournal(in dir: TemporaryDirectory) throws -> Journal {
    try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
    let journal = try Journal.open(path: dir.path)
    for i in 0..<200 { _ = try journal.appendBlocking(payload(i, bytes: 1000)) }
    try journal.truncate(before: 150)
    return journal
}

/// The durable LSN of `writer` as followers in other processes may already
/// see it. A writer stores its follow file's durable LSN before its own,
/// both under the journal's lock, so a follower can read a record an
/// instant before `durableLSN` reaches it. This takes that lock first
/// (`nextLSN` does): the journal's own durable LSN is then at least
/// anything the follow file showed before the call.
func durableForFollowers(_ writer: Journal) -> LSN {
    _ = writer.nextLSN
    return writer.durableLSN
}
