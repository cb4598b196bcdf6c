import JournalPrimitives
import Synchronization
import TestSupport
import Testing
@testable import PagedFile
#if canImport(Glibc)
import Glibc
#endif

/// Hand-offs between the threads of one test, all through atomics.
final class Signals: Sendable {
    let inside = Atomic<Bool>(false)
    let go = Atomic<Bool>(false)
    let started = Atomic<Bool>(false)

    static func waitFor(_ flag: borrowing Atomic<Bool>) {
        while !flag.load(ordering: .acquiring) { sched_yield() }
    }
}

/// Deterministic interleavings through the test seams of `PagedFile`: a
/// reader or writer is parked between its page-table load and its copy while
/// another thread truncates. The checks on the truncating side are negative
/// (nothing freed while parked), sampled for a bounded number of yields; the
/// checks on the parked side are exact.
@Suite("Reclamation")
struct ReclamationTests {
    static let watchYields = 20_000

    @Test("truncation does not free a page while a reader that loaded it is copying")
    func readerHoldsPage() throws {
        let page = 4096
        let pool = try PagePool(capacityBytes: 8 * page, pageBytes: page)
        let file = try PagedFile(pool: pool)
        let other = try PagedFile(pool: pool)
        try file.write(at: 0, bytes: [UInt8](repeating: 0x77, count: page))
        let signals = Signals()
        file.readHookAfterSlotLoad = {
            signals.inside.store(true, ordering: .releasing)
            Signals.waitFor(signals.go)
        }
        let failures = Failures()
        let result = LockedValue<[UInt8]>([])
        runThreads(2) { t in
            if t == 0 {
                let bytes = (try? file.read(at: 0, count: page)) ?? []
                result.withLock { $0 = bytes }
            } else {
                Signals.waitFor(signals.inside)
                // Truncate on this thread; watch from a third one.
                runThreads(2) { u in
                    if u == 0 {
                        do { try file.setLength(0) } catch { failures.record("\(error)") }
                    } else {
                        while file.length != 0 { sched_yield() }
                        for _ in 0 ..< Self.watchYields {
                            if pool.rentedPages != 1 { failures.record("page freed under a reader"); break }
                            // Try to grab the page for another file meanwhile.
                            try? other.write(at: 0, bytes: [UInt8](repeating: 0x99, count: page))
                            try? other.setLength(0)
                            sched_yield()
                        }
                        signals.go.store(true, ordering: .releasing)
                    }
                }
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all)")
        let bytes = result.withLock { $0 }
        #expect(bytes.count == page && bytes.allSatisfy { $0 == 0x77 }, "the parked reader must copy the old bytes")
        #expect(file.length == 0)
        #expect(expectPoolWhole(pool, files: [file, other]).isEmpty)
    }

    @Test("truncation waits for a writer inside the file, then cuts what it wrote",
          arguments: [false, true])
    func writerInside(throughCount: Bool) throws {
        let page = 4096
        let pool = try PagePool(capacityBytes: 8 * page, pageBytes: page)
        let file = try PagedFile(pool: pool)
        // The writer enters through its thread's slot, or through the count.
        file.writersUseCount = throughCount
        try file.write(at: 0, bytes: [UInt8](repeating: 1, count: 4 * page))
        let signals = Signals()
        file.writeHookBeforeCopy = {
            signals.inside.store(true, ordering: .releasing)
            Signals.waitFor(signals.go)
        }
        let failures = Failures()
        runThreads(3) { t in
            switch t {
            case 0:
                do { try file.write(at: 2 * page, bytes: [UInt8](repeating: 2, count: 2 * page)) } catch { failures.record("\(error)") }
            case 1:
                Signals.waitFor(signals.inside)
                signals.started.store(true, ordering: .releasing)
                do { try file.setLength(page) } catch { failures.record("\(error)") }
            default:
                Signals.waitFor(signals.started)
                for _ in 0 ..< Self.watchYields {
                    if file.length != 4 * page || pool.rentedPages != 4 {
                        failures.record("truncation ran while a writer was copying")
                        break
                    }
                    sched_yield()
                }
                signals.go.store(true, ordering: .releasing)
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all)")
        #expect(file.length == page)
        let back = try file.read(at: 0, count: 4 * page)
        #expect(back.count == page && back.allSatisfy { $0 == 1 })
        #expect(expectPoolWhole(pool, files: [file]).isEmpty)
    }

    @Test("a writer arriving during truncation waits, then extends the cut file")
    func writerAfterCut() throws {
        let page = 4096
        let pool = try PagePool(capacityBytes: 8 * page, pageBytes: page)
        let file = try PagedFile(pool: pool)
        try file.write(at: 0, bytes: [UInt8](repeating: 1, count: 6 * page))
        try file.setLength(page / 2)
        try file.write(at: 3 * page, bytes: [5])
        let back = try file.read(at: 0, count: 8 * page)
        #expect(back.count == 3 * page + 1)
        #expect(back.prefix(page / 2).allSatisfy { $0 == 1 })
        #expect(back.dropFirst(page / 2).dropLast().allSatisfy { $0 == 0 })
        #expect(file.allocatedBytes == 2 * page)
        #expect(expectPoolWhole(pool, files: [file]).isEmpty)
    }
}

@Suite("Writer slots")
struct WriterSlotsTests {
    @Test("the kernel offers the asymmetric fence, so writers skip the locked count")
    func asymmetric() {
        // Linux 4.14 and later have MEMBARRIER_CMD_PRIVATE_EXPEDITED; the
        // machines this runs on are newer. Without it every writer would
        // take the fallback count (correct, but slower).
        #expect(WriterSlots.shared.isAsymmetric)
    }

    @Test("a thread's slot goes back to the table when the thread exits")
    func slotsRecycled() throws {
        let pool = try PagePool(capacityBytes: 4 * 4096, pageBytes: 4096)
        let file = try PagedFile(pool: pool)
        let failures = Failures()
        // More threads, one after another, than the table has slots: each
        // one finds a slot only if its predecessors gave theirs back.
        for round in 0 ..< WriterSlots.slotCapacity + 16 {
            runThreads(1) { _ in
                if WriterSlots.shared.currentSlot() == nil { failures.record("thread \(round) found no free slot") }
                do { try file.write(at: 0, bytes: [UInt8(truncatingIfNeeded: round)]) } catch { failures.record("\(error)") }
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(3))")
        #expect(try file.read(at: 0, count: 1) == [UInt8(truncatingIfNeeded: WriterSlots.slotCapacity + 15)])
        try file.setLength(0)
        #expect(expectPoolWhole(pool, files: [file]).isEmpty)
    }
}
