import Foundation
import Journal
import JournalPrimitives
import JournalStorage
import Synchronization
import TestSupport
import Testing

/// The batch buffers: one mapping advised for transparent huge pages
/// (`JournalOptions.hugePageBatches`), or ordinary pages.
@Suite struct BatchMemoryTests {
    /// The kernel's transparent-huge-page mode ("always", "madvise",
    /// "never"), or nil where the kernel has none.
    static func transparentHugePageMode() -> String? {
        guard let text = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8),
              let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close
        else { return nil }
        return String(text[text.index(after: open)..<close])
    }

    struct Case: CustomStringConvertible, Sendable {
        let fs: TestFileSystem
        let hugePages: Bool
        var description: String { "\(fs) \(hugePages ? "huge pages" : "4 KiB pages")" }
    }
    static let cases = TestFileSystem.allCases.flatMap { fs in [true, false].map { Case(fs: fs, hugePages: $0) } }

    /// Records of 1 MiB and more, the batches the huge pages are for, from
    /// four threads at once: every one reads back, before and after a reopen.
    @Test(arguments: cases)
    func largeRecordsRoundTrip(_ c: Case) throws {
        let dir = TemporaryDirectory(on: c.fs)
        let storage = try dir.storage()
        var configuration = JournalConfiguration()
        configuration.segmentBytes = 8 << 20
        configuration.recordBytesMax = 2 << 20
        try Journal.create(storage: storage, configuration: configuration)
        var options = JournalOptions()
        options.hugePageBatches = c.hugePages
        let journal = try Journal.open(storage: storage, options: options)
        let memory = try #require(journal.batchMemory)
        #expect(memory.bytes >= (options.inFlightBatchesMax + 2) * (2 << 20), "room for a batch of the largest record per buffer")
        #expect(memory.bytes % (2 << 20) == 0)

        // Distinct payloads cut from one random buffer (cheap in a debug build).
        let base = payload(7, bytes: 4 << 20)
        let sizes = [1 << 20, (1 << 20) + 1, 3000, 2 << 20]
        @Sendable func record(_ seed: Int) -> [UInt8] {
            let start = (seed * 4099) % (2 << 20)
            return Array(base[start..<start + sizes[seed % sizes.count]])
        }
        let written = LockedValue<[LSN: Int]>([:])
        let failures = LockedValue<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for i in 0..<5 {
                let seed = thread * 5 + i
                do {
                    let lsn = try journal.appendBlocking(record(seed))
                    written.withLock { $0[lsn] = seed }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let seeds = written.withLock { $0 }
        #expect(seeds.count == 20)
        #expect(Set(seeds.values).count == 20)
        func check(_ j: Journal) throws {
            for (lsn, seed) in seeds { #expect(try j.record(at: lsn) == record(seed)) }
        }
        try check(journal)
        journal.close()
        let reopened = try Journal.openForReading(storage: storage)
        #expect(reopened.recoveryReport.outcome == .clean)
        #expect(reopened.recoveryReport.lastLSN == 20)
        #expect(reopened.batchMemory == nil, "a reader has no batches")
        try check(reopened)
    }

    /// The advice is taken where the kernel offers huge pages to those who
    /// ask (mode "madvise" or "always"), and without it, in "madvise" mode,
    /// the buffers are ordinary pages.
    @Test func hugePagesWhereTheKernelOffersThem() throws {
        let mode = Self.transparentHugePageMode()
        for hugePages in [true, false] {
            let dir = TemporaryDirectory()
            let storage = try dir.storage()
            var configuration = JournalConfiguration()
            configuration.segmentBytes = 8 << 20
            try Journal.create(storage: storage, configuration: configuration)
            var options = JournalOptions()
            options.hugePageBatches = hugePages
            let journal = try Journal.open(storage: storage, options: options)
            defer { journal.close() }
            let memory = try #require(journal.batchMemory)
            let huge = try #require(memory.hugePageBytes, "/proc/self/smaps is readable on Linux")
            #expect(huge <= memory.bytes)
            switch (mode, hugePages) {
            case ("always", _), ("madvise", true):
                #expect(huge > 0, "the kernel backs some of the \(memory.bytes) bytes with huge pages (mode \(mode ?? "-"))")
            case ("madvise", false), ("never", _), (nil, _):
                #expect(huge == 0, "no huge pages without the advice in mode \(mode ?? "none")")
            default:
                Issue.record("unknown transparent huge page mode \(mode ?? "-")")
            }
            #expect(try journal.appendBlocking([1, 2, 3]) == 1)
        }
    }
}
