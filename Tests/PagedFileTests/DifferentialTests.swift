import JournalPrimitives
import Synchronization
import TestSupport
import Testing
@testable import PagedFile

/// The reference: a flat byte array per file, plus the set of pages a write
/// touched (the pages the paged file must have allocated).
struct ReferenceFile {
    var bytes: [UInt8] = []
    var pages: Set<Int> = []
    let pageBytes: Int

    func pagesCovering(_ length: Int) -> Int { (length + pageBytes - 1) / pageBytes }
    var reservedPages: Int { pagesCovering(bytes.count) }

    /// Pages a write or growth to `end` needs beyond what the file holds.
    func missingPages(upTo end: Int) -> Int { max(0, pagesCovering(end) - reservedPages) }

    mutating func write(at offset: Int, _ data: [UInt8]) {
        guard !data.isEmpty else { return }
        let end = offset + data.count
        if end > bytes.count { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
        bytes.replaceSubrange(offset ..< end, with: data)
        for page in offset / pageBytes ... (end - 1) / pageBytes { pages.insert(page) }
    }

    mutating func setLength(_ length: Int) {
        if length > bytes.count {
            bytes += [UInt8](repeating: 0, count: length - bytes.count)
        } else {
            bytes.removeLast(bytes.count - length)
            let keep = pagesCovering(length)
            pages = pages.filter { $0 < keep }
        }
    }

    func read(at offset: Int, count: Int) -> [UInt8] {
        guard offset < bytes.count else { return [] }
        return Array(bytes[offset ..< min(bytes.count, offset + count)])
    }
}

/// Runs `body` and returns the `PagedFileError` it threw, or nil.
func attempt(_ body: () throws -> Void) -> PagedFileError? {
    do {
        try body()
        return nil
    } catch let error as PagedFileError {
        return error
    } catch {
        return .invalidArgument("unexpected error \(error)")
    }
}

@Suite("Differential against a flat array")
struct DifferentialTests {
    /// One thread: `make test-tsan` runs a share of them (`SeedScale`).
    static let seedsSequential: [UInt64] = Array(1 ... (longMode ? 400 : UInt64(SeedScale.count(24))))

    @Test("random sequential operations on two files sharing a pool", arguments: seedsSequential)
    func sequential(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let pageBytes = [4096, 8192, 65536][Int(seed % 3)]
        let capacityPages = 24
        let pool = try PagePool(capacityBytes: capacityPages * pageBytes, pageBytes: pageBytes)
        var files = [try PagedFile(pool: pool), try PagedFile(pool: pool)]
        var references = [ReferenceFile(pageBytes: pageBytes), ReferenceFile(pageBytes: pageBytes)]
        let operations = longMode ? 3000 : 300
        let reach = capacityPages * pageBytes * 5 / 4   // some operations must run out of space

        for step in 0 ..< operations {
            let which = Int(random.next() % 2)
            let committedPages = references[0].reservedPages + references[1].reservedPages
            let file = files[which]
            let context = "seed \(seed) step \(step) file \(which)"
            switch random.next() % 10 {
            case 0 ..< 4:
                let offset = Int(random.next() % UInt64(reach))
                let count = random.next() % 8 == 0
                    ? Int(random.next() % UInt64(6 * pageBytes))
                    : Int(random.next() % 300)
                let tag = UInt8(truncatingIfNeeded: step) | 1
                let data = (0 ..< count).map { UInt8(truncatingIfNeeded: $0 &* 13) ^ tag }
                let missing = references[which].missingPages(upTo: offset + count)
                let fits = count == 0 || missing <= capacityPages - committedPages
                let outcome = attempt { try file.write(at: offset, bytes: data) }
                #expect(outcome == (fits ? nil : .outOfSpace), "write: \(context)")
                if outcome == nil { references[which].write(at: offset, data) }
            case 4 ..< 7:
                let offset = Int(random.next() % UInt64(reach))
                let count = Int(random.next() % UInt64(3 * pageBytes))
                let got = try file.read(at: offset, count: count)
                #expect(got == references[which].read(at: offset, count: count), "read mismatch: \(context)")
            case 7, 8:
                let length = Int(random.next() % UInt64(reach))
                let fits = references[which].missingPages(upTo: length) <= capacityPages - committedPages
                let outcome = attempt { try file.setLength(length) }
                #expect(outcome == (fits ? nil : .outOfSpace), "setLength: \(context)")
                if outcome == nil { references[which].setLength(length) }
            default:
                if random.next() % 4 == 0 {
                    file.close()
                    #expect(attempt { _ = try file.read(at: 0, count: 1) } == .closed)
                    files[which] = try PagedFile(pool: pool)
                    references[which] = ReferenceFile(pageBytes: pageBytes)
                } else {
                    pool.trim()
                }
            }
            for k in 0 ..< 2 {
                #expect(files[k].length == references[k].bytes.count, "\(context)")
                #expect(files[k].allocatedBytes == references[k].pages.count * pageBytes, "\(context)")
                #expect(files[k].reservedBytes == references[k].reservedPages * pageBytes, "\(context)")
            }
            #expect(pool.committedBytes == (references[0].reservedPages + references[1].reservedPages) * pageBytes, "\(context)")
            let problems = expectPoolWhole(pool, files: files)
            #expect(problems.isEmpty, "\(problems): \(context)")
            if !problems.isEmpty { return }
        }
        for k in 0 ..< 2 {
            #expect(try files[k].read(at: 0, count: reach) == references[k].bytes, "final contents, seed \(seed)")
        }
    }

    static let seedsConcurrent: [UInt64] = Array(1 ... (longMode ? 60 : 6))

    /// Three threads own disjoint ranges of file a (boundaries inside pages,
    /// so they race to publish shared pages); a fourth owns the tail of a and
    /// shrinks and grows it, racing the others; a fifth works on file b in the
    /// same pool so pages travel between files. Each thread compares every
    /// read with its own reference; the whole files and the books are compared
    /// at the end.
    @Test("random concurrent operations: disjoint ranges plus racing truncation", arguments: seedsConcurrent)
    func concurrent(seed: UInt64) throws {
        let pageBytes = 4096
        let rangeBytes = 5 * pageBytes + 1234
        let rangeThreads = 3
        let tailBase = rangeThreads * rangeBytes
        let tailBytes = 6 * pageBytes
        let pool = try PagePool(capacityBytes: 64 * pageBytes, pageBytes: pageBytes)
        let a = try PagedFile(pool: pool)
        let b = try PagedFile(pool: pool)
        // Even seeds: writers of a enter through the gate's count (the
        // fallback without membarrier); odd seeds: through their slots.
        a.writersUseCount = seed % 2 == 0
        try a.setLength(tailBase)
        let operations = longMode ? 4000 : 400
        let failures = Failures()
        let results = PerThread<ReferenceFile>(count: rangeThreads + 2)

        runThreads(rangeThreads + 2) { t in
            var random = SplitMix64(seed: seed &* 1_000_003 &+ UInt64(t))
            var reference = ReferenceFile(pageBytes: pageBytes)
            let tag = UInt8(t + 1) << 5
            func data(_ count: Int) -> [UInt8] { (0 ..< count).map { _ in tag | UInt8(random.next() & 0x1F) } }
            func fail(_ message: String) { failures.record("seed \(seed) thread \(t): \(message)") }
            do {
                if t < rangeThreads {
                    // Disjoint range [base, base + rangeBytes) of file a.
                    let base = t * rangeBytes
                    reference.setLength(tailBase)
                    for _ in 0 ..< operations {
                        let offset = Int(random.next() % UInt64(rangeBytes))
                        let count = Int(random.next() % UInt64(rangeBytes - offset)) + 1
                        if random.next() % 2 == 0 {
                            let bytes = data(count)
                            try a.write(at: base + offset, bytes: bytes)
                            reference.write(at: base + offset, bytes)
                        } else {
                            let got = try a.read(at: base + offset, count: count)
                            if got != reference.read(at: base + offset, count: count) { fail("range read mismatch at \(base + offset)") }
                        }
                    }
                } else if t == rangeThreads {
                    // The tail of file a: writes, reads, and truncation racing the ranges.
                    reference.setLength(tailBase)
                    for _ in 0 ..< operations {
                        let offset = tailBase + Int(random.next() % UInt64(tailBytes))
                        switch random.next() % 3 {
                        case 0:
                            let count = Int(random.next() % UInt64(tailBase + tailBytes - offset)) + 1
                            let bytes = data(count)
                            try a.write(at: offset, bytes: bytes)
                            reference.write(at: offset, bytes)
                        case 1:
                            try a.setLength(offset)
                            reference.setLength(offset)
                        default:
                            let count = Int(random.next() % UInt64(2 * pageBytes))
                            let got = try a.read(at: offset, count: count)
                            if got != reference.read(at: offset, count: count) { fail("tail read mismatch at \(offset)") }
                        }
                        if a.length != reference.bytes.count { fail("length \(a.length) != \(reference.bytes.count)") }
                    }
                } else {
                    // File b, alone, in the same pool.
                    for _ in 0 ..< operations {
                        let offset = Int(random.next() % UInt64(12 * pageBytes))
                        switch random.next() % 3 {
                        case 0:
                            let count = Int(random.next() % UInt64(2 * pageBytes)) + 1
                            let bytes = data(count)
                            try b.write(at: offset, bytes: bytes)
                            reference.write(at: offset, bytes)
                        case 1:
                            try b.setLength(offset)
                            reference.setLength(offset)
                        default:
                            let count = Int(random.next() % UInt64(2 * pageBytes))
                            let got = try b.read(at: offset, count: count)
                            if got != reference.read(at: offset, count: count) { fail("file b read mismatch at \(offset)") }
                        }
                    }
                }
            } catch {
                fail("unexpected \(error)")
            }
            results[t] = reference
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(3))")
        var references: [Int: ReferenceFile] = [:]
        for t in 0 ..< results.count { references[t] = results[t] }
        guard references.count == rangeThreads + 2 else { Issue.record("missing results"); return }

        // Stitch file a's reference together from the owners of its ranges.
        let tail = references[rangeThreads]!
        var whole = tail.bytes
        var pages = tail.pages
        for t in 0 ..< rangeThreads {
            let base = t * rangeBytes
            let part = references[t]!
            whole.replaceSubrange(base ..< base + rangeBytes, with: part.bytes[base ..< base + rangeBytes])
            pages.formUnion(part.pages)
        }
        #expect(a.length == whole.count, "seed \(seed)")
        #expect(try a.read(at: 0, count: whole.count + 10) == whole, "file a contents, seed \(seed)")
        #expect(a.allocatedBytes == pages.count * pageBytes, "seed \(seed)")
        let fileB = references[rangeThreads + 1]!
        #expect(try b.read(at: 0, count: 1 << 20) == fileB.bytes, "file b contents, seed \(seed)")
        #expect(b.allocatedBytes == fileB.pages.count * pageBytes, "seed \(seed)")
        let problems = expectPoolWhole(pool, files: [a, b])
        #expect(problems.isEmpty, "\(problems) seed \(seed)")
    }
}
