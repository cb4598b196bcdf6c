import Foundation
import Journal
import JournalFileStorage
import JournalStorage
import JournalTesting
import TestSupport
import Testing
import JournalPrimitives

@Suite struct BadInputTests {
    @Test func missingDirectory() {
        #expect(throws: JournalError.notFound(path: "/tmp/swift-journal-test-does-not-exist-\(getpid())")) {
            try Journal.open(path: "/tmp/swift-journal-test-does-not-exist-\(getpid())")
        }
    }

    @Test func directoryWithoutAJournal() throws {
        let dir = TemporaryDirectory()
        do {
            _ = try Journal.open(path: dir.path)
            Issue.record("opened an empty directory")
        } catch {
            guard case .notAJournal = error else { Issue.record("got \(error)"); return }
        }
    }

    @Test func badMagicIsNotAJournal() throws {
        let dir = TemporaryDirectory()
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        try patchFile(dir.path + "/journal.meta", at: 0, Array("NOTAJRNL".utf8))
        do {
            _ = try Journal.open(path: dir.path)
            Issue.record("opened a journal with bad magic")
        } catch {
            guard case .notAJournal(_, let reason) = error else { Issue.record("got \(error)"); return }
            #expect(reason.contains("magic"))
        }
    }

    @Test func newerFormatVersionIsRefused() throws {
        let dir = TemporaryDirectory()
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        var meta = try readFile(dir.path + "/journal.meta", at: 0, count: 128)
        meta[8] = 9
        let crc = CRC32C.checksum(Array(meta[0..<124]))
        try patchFile(dir.path + "/journal.meta", at: 8, [9])
        try patchFile(dir.path + "/journal.meta", at: 124, [UInt8(crc & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc >> 16 & 0xff), UInt8(crc >> 24)])
        do {
            _ = try Journal.open(path: dir.path)
            Issue.record("opened a newer format")
        } catch {
            guard case .newerFormat(_, let found, let supported) = error else { Issue.record("got \(error)"); return }
            #expect(found == 9 && supported == JournalFormat.version)
        }
    }

    @Test func createTwiceIsRefused() throws {
        let dir = TemporaryDirectory()
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        #expect(throws: JournalError.alreadyExists(path: dir.path)) {
            try Journal.create(path: dir.path, configuration: smallConfiguration())
        }
    }

    @Test func inconsistentConfigurationIsRefused() throws {
        let dir = TemporaryDirectory()
        var c = smallConfiguration()
        c.pageBytes = 5000
        #expect(throws: JournalError.self) { try Journal.create(path: dir.path, configuration: c) }
        c = smallConfiguration()
        c.recordBytesMax = 1 << 30
        #expect(throws: JournalError.self) { try Journal.create(path: dir.path, configuration: c) }
    }

    /// Options the writer cannot work with are refused on open, before the
    /// journal is touched: no spare segment to roll over into (it would wait
    /// forever), a negative pool, no batch in flight, a tiny batch.
    @Test func unworkableOptionsAreRefusedOnOpen() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let edits: [(String, (inout JournalOptions) -> Void)] = [
            ("spareSegments", { $0.spareSegments = 0 }),
            ("recycledSegmentsMax", { $0.recycledSegmentsMax = -1 }),
            ("inFlightBatchesMax", { $0.inFlightBatchesMax = 0 }),
            ("batchBytesMax", { $0.batchBytesMax = 512 }),
        ]
        for (name, edit) in edits {
            var options = JournalOptions()
            edit(&options)
            do {
                _ = try Journal.open(path: dir.path, options: options)
                Issue.record("\(name): open succeeded")
            } catch let error {
                guard case .invalidArgument(let message) = error else {
                    Issue.record("\(name): \(error)")
                    continue
                }
                #expect(message.contains(name))
            }
        }
        // Refused before taking the writer lock: a valid open still works.
        let journal = try Journal.open(path: dir.path)
        #expect(try journal.appendBlocking([1, 2, 3]) == 1)
        journal.close()
    }

    @Test func recordAboveTheMaximumIsRefusedAndNothingIsLost() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let journal = try Journal.open(path: dir.path)
        #expect(try journal.appendBlocking([1]) == 1)
        #expect(throws: JournalError.recordTooLarge(bytes: (64 << 10) + 1, max: 64 << 10)) {
            try journal.appendBlocking([UInt8](repeating: 0, count: (64 << 10) + 1))
        }
        #expect(try journal.appendBlocking([2]) == 2, "the journal stays usable")
        #expect(try journal.appendBlocking([UInt8](repeating: 3, count: 64 << 10)) == 3, "the maximum itself is accepted")
        journal.close()
        #expect(try Journal.openForReading(path: dir.path).recoveryReport.lastLSN == 3)
    }

    @Test func aSecondWriterIsLockedOut() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let first = try Journal.open(path: dir.path)
        #expect(throws: JournalError.locked(path: dir.path)) { try Journal.open(path: dir.path) }
        // Readers need no lock.
        #expect(try Journal.openForReading(path: dir.path).recoveryReport.outcome == .clean)
        first.close()
        let second = try Journal.open(path: dir.path)
        second.close()
    }

    @Test func journalFullAtTheSegmentLimitThenUsableAfterTruncation() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10, segmentCountMax: 3))
        let journal = try Journal.open(path: dir.path)
        var last: LSN = 0
        var full = false
        for i in 0..<1000 {
            do {
                last = try journal.appendBlocking(payload(i, bytes: 8000))
            } catch {
                #expect(error == .journalFull(segmentCountMax: 3))
                full = true
                break
            }
        }
        #expect(full, "the limit was reached")
        #expect(journal.segmentSummaries.count == 3)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".seg") }
        #expect(files.count <= 3, "no more segment files than the limit")
        // Every acknowledged record is intact.
        #expect(try journal.records(from: 1).count == Int(last))
        #expect(try journal.truncate(before: last) >= 1)
        let next = try journal.appendBlocking(payload(0, bytes: 8000))
        #expect(next == last + 1)
        journal.close()
    }

    /// An EIO from a durable write poisons the journal: the append fails,
    /// every later append fails, and reopening recovers what was durable.
    @Test func eioFromADurableWritePoisonsUntilReopened() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let faulty = FaultyStorage(try dir.storage(), failingWrites: [4])
        // Through the I/O thread's queue (InlineWriteTests covers inline writes).
        var options = JournalOptions()
        options.inlineWrites = false
        let journal = try Journal.open(storage: faulty, options: options)
        for i in 1...3 { #expect(try journal.appendBlocking([UInt8(i)]) == LSN(i)) }
        do {
            _ = try journal.appendBlocking([4])
            Issue.record("the failed write was acknowledged")
        } catch {
            guard case .poisoned(let e) = error else { Issue.record("got \(error)"); return }
            #expect(e.errno == .ioError)
        }
        do {
            _ = try journal.appendBlocking([5])
            Issue.record("a poisoned journal accepted an append")
        } catch {
            guard case .poisoned = error else { Issue.record("got \(error)"); return }
        }
        #expect(journal.durableLSN == 3)
        journal.close()
        try expectReopenedToAppend(dir.path, after: 3)
    }

    @Test func readOnlyJournalsRefuseWrites() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let reader = try Journal.openForReading(path: dir.path)
        #expect(throws: JournalError.self) { try reader.enqueue([1]) }
        #expect(throws: JournalError.self) { try reader.truncate(before: 1) }
    }

    @Test func readOnlyJournalsRefuseToWaitForWhatNeverBecomesDurable() async throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let writer = try Journal.open(path: dir.path)
        _ = try writer.appendBlocking([1])
        writer.close()
        let reader = try Journal.openForReading(path: dir.path)
        try reader.waitUntilDurableBlocking(1)
        try await reader.waitUntilDurable(1)
        #expect {
            try reader.waitUntilDurableBlocking(2)
        } throws: { error in
            guard case JournalError.invalidArgument = error else { return false }
            return true
        }
        await #expect {
            try await reader.waitUntilDurable(2)
        } throws: { error in
            guard case JournalError.invalidArgument = error else { return false }
            return true
        }
    }

    @Test func readsAboveTheDurableWatermarkAreRefused() throws {
        let dir = TemporaryDirectory(on: .shm)
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        let journal = try Journal.open(path: dir.path)
        _ = try journal.appendBlocking([1])
        #expect(throws: JournalError.lsnOutOfRange(requested: 2, first: 1, durable: 1)) { try journal.record(at: 2) }
        #expect(throws: JournalError.lsnOutOfRange(requested: 0, first: 1, durable: 1)) { try journal.record(at: 0) }
        journal.close()
    }

    /// Storage errors map to the errors a user can act on.
    @Test func storageErrorsMapToActionableErrors() {
        #expect(JournalError.from(StorageError("open O_DIRECT", path: "p", errno: .invalidArgument)) == .directIOUnsupported(path: "p"))
        #expect(JournalError.from(StorageError("open", path: "p", errno: .permissionDenied)) == .permissionDenied(path: "p"))
        #expect(JournalError.from(StorageError("open", path: "p", errno: .readOnlyFileSystem)) == .readOnlyFileSystem(path: "p"))
        #expect(JournalError.from(StorageError("flock", path: "p", errno: .wouldBlock)) == .locked(path: "p"))
    }

    @Test func permissionDeniedWhenTheDirectoryIsNotWritable() throws {
        let dir = TemporaryDirectory()
        try Journal.create(path: dir.path, configuration: smallConfiguration())
        // A file where a directory is expected gives a clear error too.
        #expect(throws: JournalError.self) { try Journal.open(path: dir.path + "/journal.meta") }
        guard getuid() != 0 else {
            // Root bypasses permission bits; the read-only-bind test below covers refusal for root.
            return
        }
        chmod(dir.path, 0o500)
        defer { chmod(dir.path, 0o700) }
        #expect(throws: JournalError.self) { try Journal.open(path: dir.path) }
    }

    @Test func noDirectStillWorks() throws {
        let dir = TemporaryDirectory()
        try Journal.create(path: dir.path, configuration: smallConfiguration(), directIO: false)
        let journal = try Journal.open(path: dir.path, directIO: false)
        #expect(try journal.appendBlocking([1, 2, 3]) == 1)
        journal.close()
        #expect(try Journal.openForReading(path: dir.path).record(at: 1) == [1, 2, 3])
    }
}

@Suite(.serialized) struct ReadOnlyFileSystemTests {
    /// A journal on a file system remounted read-only: writers get a clear
    /// error, readers still read every record.
    @Test func readOnlyFileSystem() throws {
        guard getuid() == 0 else {
            // Mounting needs root; unprivileged runs rely on the permission test.
            return
        }
        let mountPoint = TemporaryDirectory(on: .tmp, "ro")
        func sh(_ command: String) -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            do { try p.run() } catch { return -1 }
            p.waitUntilExit()
            return p.terminationStatus
        }
        try #require(sh("mount -t tmpfs -o size=8m tmpfs \(mountPoint.path)") == 0, "mount a tmpfs")
        defer { _ = sh("umount \(mountPoint.path)") }
        let path = mountPoint.path + "/journal"
        try Journal.create(path: path, configuration: smallConfiguration())
        func writeOne() throws {
            let journal = try Journal.open(path: path)
            _ = try journal.appendBlocking([1, 2, 3])
            journal.close()
        }
        // Released before the remount: no file stays open for writing.
        try writeOne()
        try #require(sh("mount -o remount,ro \(mountPoint.path)") == 0, "remount read-only")
        #expect(throws: JournalError.readOnlyFileSystem(path: path + "/journal.meta")) { try Journal.open(path: path) }
        let reader = try Journal.openForReading(path: path)
        #expect(try reader.record(at: 1) == [1, 2, 3])
    }
}
