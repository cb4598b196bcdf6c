import Foundation
import Journal
import JournalFileStorage
import JournalPrimitives
import JournalStorage
import TestSupport
import Testing

/// A storage directory that runs `interleave` once, as the reader calls
/// `openReadOnly` or maps the file named `at`: the writer's step that races
/// the follower's open, taken at a chosen point of it rather than by timing.
private final class InterleavedStorage: StorageDirectory {
    enum Point { case open, map }
    let base: FileSystemStorage
    let at: String
    let point: Point
    let interleave: @Sendable () throws -> Void
    let done = LockedValue(false)

    init(_ path: String, at: String, point: Point, interleave: @escaping @Sendable () throws -> Void) throws {
        var options = FileSystemStorage.Options()
        options.directIO = false
        base = try FileSystemStorage(path: path, options: options)
        self.at = at
        self.point = point
        self.interleave = interleave
    }

    /// Runs the interleaved step the first time the reader reaches `point`
    /// on the file `name`.
    func reach(_ point: Point, _ name: String) throws(StorageError) {
        guard point == self.point, name == at, !done.withLock({ let was = $0; $0 = true; return was }) else { return }
        do { try interleave() } catch { Issue.record("the interleaved step failed: \(error)") }
    }

    var path: String { base.path }
    var ioAlignment: Int { base.ioAlignment }
    func fileNames() throws(StorageError) -> [String] { try base.fileNames() }
    func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile { try base.createZeroFilled(name, bytes: bytes) }
    func open(_ name: String) throws(StorageError) -> any StorageFile { try base.open(name) }
    func openReadOnly(_ name: String) throws(StorageError) -> any StorageFile {
        try reach(.open, name)
        return InterleavedFile(try base.openReadOnly(name), storage: self)
    }
    func rename(_ from: String, to: String) throws(StorageError) { try base.rename(from, to: to) }
    func remove(_ name: String) throws(StorageError) { try base.remove(name) }
    func renameLazily(_ from: String, to: String) throws(StorageError) { try base.renameLazily(from, to: to) }
    func mapShared(_ name: String, bytes: Int, create: Bool) throws(StorageError) -> any StorageSharedMapping {
        try base.mapShared(name, bytes: bytes, create: create)
    }
    func lockExclusive() throws(StorageError) -> any StorageLock { try base.lockExclusive() }
    func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue { try base.makeWriteQueue(depth: depth) }
}

private final class InterleavedFile: StorageFile {
    let file: any StorageFile
    let storage: InterleavedStorage

    init(_ file: any StorageFile, storage: InterleavedStorage) {
        self.file = file
        self.storage = storage
    }

    var name: String { file.name }
    var size: Int { file.size }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int { try file.read(into: buffer, at: offset) }
    func writeDurably(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError) { try file.writeDurably(bytes, at: offset) }
    func mapReadOnly() throws(StorageError) -> any StorageMapping {
        try storage.reach(.map, file.name)
        return try file.mapReadOnly()
    }
    func close() { file.close() }
}

private func segmentName(_ index: UInt64) -> String { JournalFormat.segmentFileName(index: index) }

/// The segment files of `dir` by index, with the base LSN of each active one.
private func segmentBases(_ dir: String) throws -> [(index: UInt64, base: LSN?)] {
    let names = try FileManager.default.contentsOfDirectory(atPath: dir)
    return try names.compactMap { JournalFormat.segmentIndex(fileName: $0) }.sorted().map { index in
        let path = dir + "/" + segmentName(index)
        let active = try word64(path, at: 24) == index
        return (index, active ? try word64(path, at: 32) : nil)
    }
}

/// Reads or writes a little-endian word of a file, as a writer in another
/// process changes it.
private func word64(_ path: String, at offset: UInt64) throws -> UInt64 {
    let handle = try #require(FileHandle(forReadingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    let bytes = try #require(try handle.read(upToCount: 8))
    return bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
}

private func setBytes(_ path: String, at offset: UInt64, _ bytes: [UInt8]) throws {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: bytes)
}

private func littleEndian(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

/// A journal of `count` records of 700 bytes over several 128 KiB segments,
/// written by a writer that published to the follow file and closed.
private func writtenJournal(_ count: Int) throws -> TemporaryDirectory {
    let dir = TemporaryDirectory(on: .shm)
    try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
    let writer = try Journal.open(path: dir.path)
    for i in 0..<count { _ = try writer.appendBlocking(payload(i, bytes: 700)) }
    writer.close()
    return dir
}

/// The records a follower of `reader` delivers from `first` through `last`,
/// checked against what was appended.
private func expectDelivers(_ reader: Journal, from first: LSN, through last: LSN) throws {
    let follower = try reader.follower(from: first)
    var lsns: [LSN] = []
    while lsns.last ?? 0 < last, let r = try follower.nextBlocking() {
        lsns.append(r.lsn)
        #expect(r.payload == payload(Int(r.lsn) - 1, bytes: 700), "record \(r.lsn) carries what was appended")
    }
    #expect(lsns == Array(first...last))
}

/// A follower opening beside a live writer reads files the writer is
/// changing (journal-format.md, section 11, "A follower's open"). Each test
/// takes one of the writer's steps at a chosen point of the follower's open;
/// the follower must report no corruption and deliver exactly the records
/// the writer published as durable.
@Suite struct FollowProcessOpenRaceTests {
    /// Truncation releases the first segments after the follower listed the
    /// directory and before it opened them: the files are gone.
    @Test func segmentsReleasedBetweenListingAndOpenAreNoPartOfTheLog() throws {
        let dir = try writtenJournal(600)
        let writer = try Journal.open(path: dir.path)
        defer { writer.close() }
        let storage = try InterleavedStorage(dir.path, at: segmentName(1), point: .open) {
            let released = try writer.truncate(before: 400)
            #expect(released > 0)
        }
        let reader = try Journal.openForFollowing(storage: storage)
        defer { reader.close() }
        #expect(reader.durableLSN == 600)
        #expect(writer.oldestLSN > 1)
        try expectDelivers(reader, from: writer.oldestLSN, through: 600)
    }

    /// The follower opened segment 1, which truncation then released and
    /// segment preparation recycled into a new segment, whose header the
    /// writer is in the middle of writing when the follower reads it: the
    /// follower's mapping shows a torn header over records that were
    /// acknowledged.
    @Test func aSegmentRecycledWhileItIsReadIsNoPartOfTheLog() throws {
        let dir = try writtenJournal(600)
        let segments = try segmentBases(dir.path)
        let secondBase = try #require(segments[1].base)
        let highest = try #require(segments.last?.index)
        let path = dir.path
        let storage = try InterleavedStorage(dir.path, at: segmentName(1), point: .map) {
            // The writer's truncation: the oldest LSN first, then the file
            // goes to the spares, then preparation makes it a new segment
            // and the writer starts on its header.
            try setBytes(path + "/journal.shm", at: 40, littleEndian(secondBase))
            try FileManager.default.moveItem(atPath: path + "/" + segmentName(1), toPath: path + "/spare-1.seg")
            try FileManager.default.moveItem(atPath: path + "/spare-1.seg", toPath: path + "/" + segmentName(highest + 1))
            try setBytes(path + "/" + segmentName(highest + 1), at: 8, littleEndian(0xFFFF_FFFF_FFFF_FFFF) + littleEndian(UInt64(highest + 1)))
        }
        let reader = try Journal.openForFollowing(storage: storage)
        defer { reader.close() }
        #expect(reader.durableLSN == 600)
        try expectDelivers(reader, from: secondBase, through: 600)
    }

    /// The follower read the end of the writer's segment before the writer
    /// wrote its last records there, and the next segment after the writer
    /// rolled over into it: past what the writer published as durable, the
    /// next segment's fragments name records durable that the end segment
    /// does not show. Above the
    /// published durable LSN that proves nothing.
    @Test func bytesAboveThePublishedDurableLSNProveNothing() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let writer = try Journal.open(path: dir.path)
        for i in 0..<300 { _ = try writer.appendBlocking(payload(i, bytes: 700)) }
        let end = try #require(try segmentBases(dir.path).last { ($0.base ?? .max) <= 300 }?.index)
        let endPath = dir.path + "/" + segmentName(end)
        let seen = try Data(contentsOf: URL(fileURLWithPath: endPath))
        for i in 300..<500 { _ = try writer.appendBlocking(payload(i, bytes: 700)) }
        writer.close()
        let next = try #require(try segmentBases(dir.path).first { $0.index == end + 1 }?.base)
        #expect(next > 301, "the writer wrote more records into segment \(end) and rolled over")
        try seen.write(to: URL(fileURLWithPath: endPath))
        try setBytes(dir.path + "/journal.shm", at: 32, littleEndian(300))
        let reader = try Journal.openForFollowing(path: dir.path)
        defer { reader.close() }
        #expect(reader.durableLSN == 300)
        try expectDelivers(reader, from: 1, through: 300)
    }

    /// Damage within what the writer published as durable, with the writer
    /// changing nothing, is still corruption.
    @Test func damageToPublishedRecordsIsStillCorruption() throws {
        let dir = try writtenJournal(600)
        try setBytes(dir.path + "/" + segmentName(2), at: 200, [0x55, 0xAA, 0x55, 0xAA])
        let error = #expect(throws: JournalError.self) { _ = try Journal.openForFollowing(path: dir.path) }
        guard case .corruption = error else {
            Issue.record("expected a corruption error, got \(String(describing: error))")
            return
        }
    }
}
