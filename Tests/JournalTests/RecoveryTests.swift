import Foundation
@_spi(Testing) import Journal
import JournalFileStorage
import JournalStorage
import TestSupport
import Testing

/// Byte-level surgery on a closed journal's files.
func patchFile(_ path: String, at offset: Int, _ bytes: [UInt8]) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
}

/// Inverts the byte at `offset`: unlike writing a constant, this changes
/// it whatever it held (a salt or an ID is random, and a constant matches
/// it one time in 256).
func invertByte(_ path: String, at offset: Int) throws {
    let old = try readFile(path, at: offset, count: 1)
    guard old.count == 1 else { throw CocoaError(.fileReadUnknown) }
    try patchFile(path, at: offset, [old[0] ^ 0xFF])
}

func readFile(_ path: String, at offset: Int, count: Int) throws -> [UInt8] {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    return Array(try handle.read(upToCount: count) ?? Data())
}

/// Options with a small write window, so "beyond the window" is reachable
/// in a test.
func smallWindowOptions(_ mode: RecoveryMode = .tolerateTornTail) -> JournalOptions {
    var o = JournalOptions()
    o.batchBytesMax = 4096
    o.inFlightBatchesMax = 2
    o.recovery = mode
    return o
}

@Suite struct RecoveryTests {
    /// Appends `count` records one durable batch each; returns payloads.
    func populate(_ dir: TemporaryDirectory, count: Int, bytes: Int = 200, segmentBytes: Int = 256 << 10) throws -> [[UInt8]] {
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: segmentBytes))
        let journal = try Journal.open(path: dir.path, options: smallWindowOptions())
        var out: [[UInt8]] = []
        for i in 0..<count {
            let p = payload(i, bytes: bytes)
            _ = try journal.appendBlocking(p)
            out.append(p)
        }
        journal.close()
        return out
    }

    @Test(arguments: TestFileSystem.allCases)
    func garbageInTheLastBatchIsCutAsATornTail(fs: TestFileSystem) throws {
        let dir = TemporaryDirectory(on: fs)
        let payloads = try populate(dir, count: 20)
        let before = try Journal.openForReading(path: dir.path)
        let segment = dir.path + "/" + before.recoveryReport.endSegment
        let end = before.recoveryReport.endOffset
        // The last record is alone in the last batch: its header starts the
        // block; garbage its payload sector (the header stays valid).
        let lastStart = (end - 1) / 4096 * 4096
        try patchFile(segment, at: lastStart + 64, [UInt8](repeating: 0xA5, count: 100))
        let journal = try Journal.open(path: dir.path, options: smallWindowOptions())
        #expect(journal.recoveryReport.outcome == .tornTailCut)
        #expect(journal.recoveryReport.lastLSN == 19)
        #expect(journal.recoveryReport.discardedFragments >= 1)
        for i in 0..<19 { #expect(try journal.record(at: LSN(i + 1)) == payloads[i]) }
        // Writing resumes after the cut, at a fresh block: the damaged bytes stay.
        let lsn = try journal.appendBlocking([1, 2, 3])
        #expect(lsn == 20)
        journal.close()
        let again = try Journal.openForReading(path: dir.path)
        #expect(again.recoveryReport.lastLSN == 20)
        #expect(try again.record(at: 20) == [1, 2, 3])
        // Recovery is idempotent: a second read-only recovery finds the same.
        let third = try Journal.openForReading(path: dir.path)
        #expect(third.recoveryReport == again.recoveryReport)
    }

    @Test func zeroedLastBatchLooksLikeACleanEnd() throws {
        let dir = TemporaryDirectory(on: .shm)
        _ = try populate(dir, count: 10)
        let before = try Journal.openForReading(path: dir.path)
        let segment = dir.path + "/" + before.recoveryReport.endSegment
        let lastStart = (before.recoveryReport.endOffset - 1) / 4096 * 4096
        try patchFile(segment, at: lastStart, [UInt8](repeating: 0, count: 4096))
        let after = try Journal.openForReading(path: dir.path)
        #expect(after.recoveryReport.lastLSN == 9)
        #expect(after.recoveryReport.outcome == .clean)
    }

    @Test func absoluteConsistencyRefusesATornTail() throws {
        let dir = TemporaryDirectory(on: .shm)
        _ = try populate(dir, count: 10)
        let before = try Journal.openForReading(path: dir.path)
        let segment = dir.path + "/" + before.recoveryReport.endSegment
        let lastStart = (before.recoveryReport.endOffset - 1) / 4096 * 4096
        try patchFile(segment, at: lastStart + 40, [0xFF, 0xFF])
        #expect(throws: JournalError.self) { try Journal.openForReading(path: dir.path, recovery: .absoluteConsistency) }
        #expect(try Journal.openForReading(path: dir.path).recoveryReport.lastLSN == 9)
    }

    /// Damage followed by valid records beyond the write window is
    /// corruption: an error naming segment and offset, unless salvaging.
    @Test(arguments: TestFileSystem.allCases)
    func interiorCorruptionIsAnErrorUnlessSalvaging(fs: TestFileSystem) throws {
        let dir = TemporaryDirectory(on: fs)
        let payloads = try populate(dir, count: 300, bytes: 1500, segmentBytes: 1 << 20)
        let first = JournalFormat.segmentFileName(index: 1)
        // Record 5 is in the fifth batch: block 4 of segment 1. Flip a payload byte.
        let offset = 4 * 4096 + JournalFormat.fragmentHeaderBytes + 10
        let original = try readFile(dir.path + "/" + first, at: offset, count: 1)
        try patchFile(dir.path + "/" + first, at: offset, [original[0] ^ 0x40])
        do {
            _ = try Journal.open(path: dir.path, options: smallWindowOptions())
            Issue.record("open should fail on interior corruption")
        } catch {
            guard case .corruption(let segment, let at, _) = error else {
                Issue.record("expected corruption, got \(error)")
                return
            }
            #expect(segment == first)
            #expect(at > 3 * 4096 && at <= 4 * 4096, "the error names where the valid chain stops: the end of record 4")
        }
        // Nothing was rewritten by the failed open.
        #expect(try readFile(dir.path + "/" + first, at: offset, count: 1) == [original[0] ^ 0x40])
        let salvaged = try Journal.open(path: dir.path, options: smallWindowOptions(.salvage))
        #expect(salvaged.recoveryReport.outcome == .salvaged)
        #expect(salvaged.recoveryReport.gaps.count == 1)
        #expect(salvaged.recoveryReport.gaps.first?.lastLSNBefore == 4)
        #expect(salvaged.recoveryReport.gaps.first?.firstLSNAfter == 6)
        var seen: [LSN] = []
        try salvaged.forEachRecord(from: 1) { lsn, bytes in
            #expect(Array(bytes) == payloads[Int(lsn) - 1])
            seen.append(lsn)
            return true
        }
        #expect(seen == [1, 2, 3, 4] + (6...300).map { LSN($0) })
        #expect(throws: JournalError.self) { try salvaged.record(at: 5) }
        // The salvaged journal takes appends after the last record.
        #expect(try salvaged.appendBlocking([7]) == 301)
        salvaged.close()
    }

    /// With the default configuration (4 MiB records, so megabytes may be in
    /// flight), one damaged byte early in a long log is still corruption:
    /// later fragments prove the damaged record was acknowledged.
    @Test func damageFarFromTheEndWithDefaultsIsCorruption() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path)
        let journal = try Journal.open(path: dir.path)
        for i in 0..<200 { _ = try journal.appendBlocking(payload(i, bytes: 4000)) }
        journal.close()
        let first = dir.path + "/" + JournalFormat.segmentFileName(index: 1)
        // Record 1 (after the 128-byte segment header) fills blocks 0-1;
        // record 2 starts the second batch, at block 2.
        let offset = 2 * 4096 + JournalFormat.fragmentHeaderBytes + 100
        let byte = try readFile(first, at: offset, count: 1)
        try patchFile(first, at: offset, [byte[0] ^ 1])
        do {
            _ = try Journal.openForReading(path: dir.path)
            Issue.record("damage to an acknowledged record passed as a torn tail")
        } catch {
            guard case .corruption(_, let at, _) = error else { Issue.record("got \(error)"); return }
            #expect(at == 128 + JournalFormat.fragmentHeaderBytes + 4000, "the end of record 1")
        }
    }

    /// Segments released by truncation are recycled; the stale records they
    /// still hold never pass as valid.
    @Test func recycledSegmentsNeverResurrectStaleRecords() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        var options = smallWindowOptions()
        options.recycledSegmentsMax = 4
        var journal = try Journal.open(path: dir.path, options: options)
        var payloads: [LSN: [UInt8]] = [:]
        func write(_ n: Int) throws {
            for _ in 0..<n {
                let p = payload(Int(journal.nextLSN), bytes: 3000)
                payloads[try journal.appendBlocking(p)] = p
            }
        }
        try write(200)
        let released = try journal.truncate(before: 150)
        #expect(released >= 3)
        #expect(journal.oldestLSN > 1 && journal.oldestLSN <= 150)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(files.contains { $0.hasPrefix("spare-") }, "released files are kept for reuse")
        try write(300)
        let spares = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("spare-") }
        #expect(spares.isEmpty, "released files were reused as new segments")
        let oldest = journal.oldestLSN
        journal.close()
        journal = try Journal.open(path: dir.path, options: options)
        #expect(journal.recoveryReport.outcome == .clean)
        #expect(journal.recoveryReport.lastLSN == 500)
        #expect(journal.oldestLSN == oldest)
        var count = 0
        try journal.forEachRecord(from: oldest) { lsn, bytes in
            #expect(Array(bytes) == payloads[lsn])
            count += 1
            return true
        }
        #expect(count == Int(500 - oldest + 1))
        journal.close()
    }
}

/// The pool of released segments kept for reuse (`recycledSegmentsMax`)
/// against a log that checkpoints in bursts: append until four segments have
/// rolled over, truncate them all, again and again.
@Suite struct SegmentRecyclingTests {
    /// Counters of one journal's segment preparation.
    struct Counts: Equatable {
        var zeroFilled: Int64, reused: Int64, deleted: Int64
    }

    static func counts(_ prefix: String) -> Counts {
        func value(_ name: String) -> Int64 {
            (try? testMetrics.expectCounter("\(prefix).segments.\(name)").totalValue) ?? 0
        }
        return Counts(zeroFilled: value("zero_filled"), reused: value("reused"), deleted: value("deleted"))
    }

    /// Runs `bursts` bursts of four rollovers, each followed by a truncation
    /// of everything before the segment being written. Returns the counts
    /// after the second truncation and at the end (the journal closed), and
    /// what each truncation released.
    ///
    /// The manual runtime makes the preparation order exact: after every
    /// append, one `pump()` prepares the spare the writer is short of, as a
    /// preparer that keeps up does. On threads, a preparer held back until
    /// a truncation has begun takes a file it released, and the next burst
    /// may then find the pool one file short: how many files are
    /// zero-filled would depend on the schedule.
    func run(recycledSegmentsMax: Int, bursts: Int) throws -> (settled: Counts, last: Counts, released: [Int]) {
        _ = testMetrics
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        var options = smallWindowOptions()
        options.runtime = .manual
        options.spareSegments = 1
        options.recycledSegmentsMax = recycledSegmentsMax
        options.metricsPrefix = "recycling-\(UUID().uuidString.prefix(8))"
        let journal = try Journal.open(path: dir.path, options: options)
        func append() throws {
            _ = try journal.appendBlocking(payload(Int(journal.nextLSN), bytes: 3000))
            try journal.pump()
        }
        try append()
        var settled = Counts(zeroFilled: 0, reused: 0, deleted: 0)
        var released: [Int] = []
        for burst in 0..<bursts {
            #expect(journal.segmentSummaries.count == 1, "each burst starts on one segment")
            while journal.segmentSummaries.count < 5 { try append() }
            released.append(try journal.truncate(before: journal.durableLSN + 1))
            if burst == 1 { settled = Self.counts(options.metricsPrefix) }
        }
        let last = journal.nextLSN - 1
        journal.close()
        let counted = journal.segmentPreparation
        let metered = Self.counts(options.metricsPrefix)
        #expect(Counts(zeroFilled: Int64(counted.zeroFilled), reused: Int64(counted.reused), deleted: Int64(counted.deleted)) == metered, "the journal's own counts match its metrics")
        let reopened = try Journal.openForReading(path: dir.path)
        #expect(reopened.recoveryReport.outcome == .clean)
        #expect(reopened.recoveryReport.lastLSN == last)
        reopened.close()
        return (settled, Self.counts(options.metricsPrefix), released)
    }

    /// A pool that holds a burst: once the first burst has been released,
    /// every later segment is a reused file; none is zero-filled or deleted.
    @Test func aPoolThatHoldsABurstStopsZeroFilling() throws {
        let bursts = 6
        let (settled, last, released) = try run(recycledSegmentsMax: JournalOptions().recycledSegmentsMax, bursts: bursts)
        #expect(released == Array(repeating: 4, count: bursts))
        #expect(settled.zeroFilled == 6, "the first burst needs new files: its five segments and the spare ahead of them")
        #expect(last.zeroFilled == settled.zeroFilled, "later bursts zero-fill nothing")
        #expect(last.deleted == 0)
        #expect(last.reused - settled.reused == Int64(4 * (bursts - 2)), "later segments are reused files")
    }

    /// A pool smaller than a burst deletes part of each burst and zero-fills
    /// as many files again: the cost the default avoids.
    @Test func aPoolSmallerThanABurstZeroFillsEveryBurst() throws {
        let bursts = 6
        let (settled, last, released) = try run(recycledSegmentsMax: 2, bursts: bursts)
        #expect(released == Array(repeating: 4, count: bursts))
        #expect(last.deleted == Int64(2 * bursts), "each truncation keeps 2 of its 4 files and deletes 2")
        #expect(last.zeroFilled - settled.zeroFilled == Int64(2 * (bursts - 2)), "each later burst zero-fills 2 files again")
        #expect(last.reused - settled.reused == Int64(2 * (bursts - 2)), "and reuses the 2 kept")
    }
}
