import JournalPrimitives
import Synchronization
import TestSupport
import Testing
@testable import PagedFile

@Suite("Paged file, many threads")
struct ConcurrencyTests {
    @Test("non-overlapping concurrent writes that share pages and extend the file are all kept")
    func disjointWritersSharingPages() throws {
        let page = 4096
        let pool = try PagePool(capacityBytes: 512 * page, pageBytes: page)
        let file = try PagedFile(pool: pool)
        let threadCount = 4
        let chunk = 1000  // not a page multiple: neighbours race to publish shared pages
        let rounds = longMode ? 400 : 100
        let failures = Failures()
        runThreads(threadCount) { t in
            for r in 0 ..< rounds {
                let offset = (r * threadCount + t) * chunk
                let bytes = [UInt8](repeating: UInt8(t + 1), count: chunk)
                do { try file.write(at: offset, bytes: bytes) } catch { failures.record("write: \(error)") }
            }
        }
        #expect(failures.all.isEmpty)
        let total = rounds * threadCount * chunk
        #expect(file.length == total)
        let back = try file.read(at: 0, count: total)
        for index in stride(from: 0, to: total, by: 1) where back[index] != UInt8((index / chunk) % threadCount + 1) {
            Issue.record("byte \(index) is \(back[index])")
            break
        }
        #expect(file.allocatedBytes == (total + page - 1) / page * page)
        #expect(expectPoolWhole(pool, files: [file]).isEmpty)
    }

    @Test("writers racing for the same holes of a full pool all finish")
    func racingForHolesInFullPool() throws {
        let page = 4096
        let rounds = longMode ? 2000 : 200
        for round in 0 ..< rounds {
            let pool = try PagePool(capacityBytes: 2 * page, pageBytes: page)
            let file = try PagedFile(pool: pool)
            try file.setLength(2 * page)  // the whole pool is reserved, no page rented
            let failures = Failures()
            runThreads(3) { t in
                // Threads 0 and 1 race for page 0; thread 2 wants page 1 and may
                // find the pool empty while a loser still holds its page.
                let offset = t == 2 ? page + t : t
                do { try file.write(at: offset, bytes: [UInt8(t + 1)]) } catch {
                    failures.record("round \(round): \(error)")
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all)")
            #expect(file.allocatedBytes == 2 * page)
            #expect(pool.rentedBytes == 2 * page)
            #expect(pool.committedBytes == 2 * page)
            #expect(try file.read(at: 2 + page, count: 1) == [3])
            if !failures.all.isEmpty { return }
        }
    }

    @Test("overlapping writers leave every byte from one of them")
    func overlappingWriters() throws {
        let page = 4096
        let pool = try PagePool(capacityBytes: 64 * page, pageBytes: page)
        let file = try PagedFile(pool: pool)
        let threadCount = 4
        let span = 10 * page + 123
        let rounds = longMode ? 300 : 60
        let failures = Failures()
        runThreads(threadCount) { t in
            let bytes = [UInt8](repeating: UInt8(0x10 * (t + 1)), count: span)
            for r in 0 ..< rounds {
                // Overlapping on purpose: the byte-level race is the subject.
                TSan.ignoringIntendedRaces {
                    do { try file.write(at: (r % 3) * 777, bytes: bytes) } catch { failures.record("\(error)") }
                }
            }
        }
        #expect(failures.all.isEmpty)
        let back = try file.read(at: 0, count: 2 * 777 + span)
        #expect(back.count == 2 * 777 + span)
        let allowed = Set((1 ... threadCount).map { UInt8(0x10 * $0) })
        #expect(back.allSatisfy { allowed.contains($0) })
        #expect(file.allocatedBytes == (2 * 777 + span + page - 1) / page * page)
        #expect(expectPoolWhole(pool, files: [file]).isEmpty)
    }

    @Test("a reader never sees a length that covers bytes not yet written")
    func lengthAfterData() throws {
        let page = 4096
        let pool = try PagePool(capacityBytes: 1024 * page, pageBytes: page)
        let file = try PagedFile(pool: pool)
        let blocks = longMode ? 3000 : 600
        let block = 1500
        let done = Atomic<Bool>(false)
        let failures = Failures()
        withUnsafePointer(to: done) { donePointer in
            let doneAddress = UInt(bitPattern: donePointer)
            runThreads(3) { t in
                let done = UnsafePointer<Atomic<Bool>>(bitPattern: doneAddress)!
                if t == 0 {
                    for b in 0 ..< blocks {
                        let bytes = [UInt8](repeating: UInt8(b % 255 + 1), count: block)
                        do { try file.write(at: b * block, bytes: bytes) } catch { failures.record("\(error)") }
                    }
                    done.pointee.store(true, ordering: .releasing)
                } else {
                    var reads = 0
                    while !done.pointee.load(ordering: .acquiring) || reads < 10 {
                        reads += 1
                        let seen = file.length
                        guard let back = try? file.read(at: 0, count: blocks * block) else {
                            failures.record("read failed"); return
                        }
                        if back.count < seen { failures.record("read \(back.count) < length seen \(seen)") }
                        if let zero = back.firstIndex(of: 0) {
                            failures.record("zero byte at \(zero) below published length \(back.count)")
                            return
                        }
                    }
                }
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(3))")
        #expect(file.length == blocks * block)
    }

    @Test("truncation racing readers never frees a page under them or leaks another file's bytes")
    func truncationRacingReaders() throws {
        let page = 4096
        let pool = try PagePool(capacityBytes: 96 * page, pageBytes: page)
        let a = try PagedFile(pool: pool)
        let b = try PagedFile(pool: pool)
        let rounds = longMode ? 4000 : 500
        let finished = Atomic<Int>(0)
        let failures = Failures()
        withUnsafePointer(to: finished) { finishedPointer in
            let finishedAddress = UInt(bitPattern: finishedPointer)
            runThreads(4) { t in
                let finished = UnsafePointer<Atomic<Int>>(bitPattern: finishedAddress)!
                var random = SplitMix64(seed: UInt64(t) &* 7919 &+ 1)
                switch t {
                case 0, 1:
                    // Each file: write a tagged span, cut it back, over and over,
                    // so freed pages travel between the two files.
                    let file = t == 0 ? a : b
                    let tag = UInt8(t == 0 ? 0xA0 : 0xB0)
                    for _ in 0 ..< rounds {
                        let count = Int(random.next() % UInt64(40 * page)) + 1
                        do {
                            try file.write(at: 0, bytes: [UInt8](repeating: tag, count: count))
                            try file.setLength(Int(random.next() % UInt64(count)))
                        } catch { failures.record("\(error)") }
                    }
                    finished.pointee.wrappingAdd(1, ordering: .releasing)
                default:
                    // Readers of file a: whatever they see must be a's bytes or zeros.
                    var buffer = [UInt8](repeating: 0, count: 40 * page)
                    while finished.pointee.load(ordering: .acquiring) < 2 {
                        let got = TSan.ignoringIntendedRaces {
                            (try? buffer.withUnsafeMutableBytes { try a.read(at: 0, into: $0) }) ?? -1
                        }
                        if got < 0 { failures.record("read failed"); return }
                        if let bad = buffer[0 ..< got].first(where: { $0 != 0 && $0 != 0xA0 }) {
                            failures.record("file a shows byte \(bad)")
                            return
                        }
                    }
                }
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(3))")
        #expect(expectPoolWhole(pool, files: [a, b]).isEmpty)
        a.close()
        b.close()
        #expect(pool.committedBytes == 0)
        #expect(pool.quiescentFreePageCount() == pool.pageCapacity)
    }

    @Test("close racing readers and writers: each call succeeds or throws closed, and nothing leaks")
    func closeRacing() throws {
        let page = 4096
        let iterations = longMode ? 200 : 40
        for iteration in 0 ..< iterations {
            let pool = try PagePool(capacityBytes: 64 * page, pageBytes: page)
            let file = try PagedFile(pool: pool)
            try file.write(at: 0, bytes: [UInt8](repeating: 1, count: 8 * page))
            let failures = Failures()
            runThreads(4) { t in
                var random = SplitMix64(seed: UInt64(iteration * 4 + t))
                if t == 3 {
                    for _ in 0 ..< Int(random.next() % 50) { _ = file.length }
                    file.close()
                    return
                }
                for _ in 0 ..< 200 {
                    do {
                        let offset = Int(random.next() % UInt64(16 * page))
                        if t == 0 {
                            try file.write(at: offset, bytes: [1, 1, 1])
                        } else if t == 1 {
                            try file.setLength(offset)
                        } else {
                            let got = try TSan.ignoringIntendedRaces { try file.read(at: offset, count: 100) }
                            if got.contains(where: { $0 > 1 }) { failures.record("foreign byte") }
                        }
                    } catch PagedFileError.closed {
                        return
                    } catch {
                        failures.record("unexpected \(error)")
                        return
                    }
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.prefix(3))")
            #expect(file.isClosed)
            #expect(pool.committedBytes == 0)
            #expect(pool.rentedBytes == 0)
            #expect(pool.quiescentFreePageCount() == 64)
        }
    }
}
