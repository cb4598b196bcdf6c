@_spi(Testing) import Journal
import JournalPrimitives
import JournalStorage
@_spi(Testing) import JournalTesting
@testable import KeyValueStore
import PageStore
import StoreCrashTesting
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Spins (yielding the CPU) until `condition` holds: waits for a state
/// other threads reach, never for a time.
func spin(until condition: () -> Bool) {
    while !condition() { sched_yield() }
}

/// Makes `count` callers queue in index order into one write group: the
/// leader (caller 0) is held in `kv.beforeGroupHook` while a conductor
/// thread starts caller i only once the i before it are queued, then lets
/// the leader go. `call(i)` runs on caller i's own thread; returns once every
/// thread has returned. The hook stays set (a no-op once released): the
/// caller clears it when its writers are done.
func queueBehindAHeldLeader(_ kv: KeyValueStore, callers count: Int, _ call: @escaping @Sendable (Int) -> Void) {
    let held = Atomic<Bool>(true)
    kv.beforeGroupHook = { spin { !held.load(ordering: .acquiring) } }
    let started = Atomic<Int>(0)
    runThreads(count + 1) { i in
        if i == count {
            for c in 1...count {
                started.store(c, ordering: .releasing)
                spin { kv.queuedRequestCount == c }
            }
            held.store(false, ordering: .releasing)
            return
        }
        spin { started.load(ordering: .acquiring) == i + 1 }
        call(i)
    }
}

@Suite("Key-value store: write groups")
struct WriteGroupTests {
    @Test("concurrent writers through the grouped path against per-writer dictionaries: every put, delete result and batch as the model says, the final state the union, after reopen too")
    func concurrentModel() throws {
        let seed: UInt64 = 0x6E0_0001
        let disk = SimulatedDisk(seed: seed)
        try KeyValueStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: simConfiguration())
        let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions(runtime: .threads, applyThreshold: 128))
        let writers = 8
        let failures = LockedValue<[String]>([])
        let models = LockedValue<[[[UInt8]: [UInt8]]]>(Array(repeating: [:], count: writers))
        runThreads(writers) { w in
            var random = SplitMix64(seed: seed &+ UInt64(w))
            var model: [[UInt8]: [UInt8]] = [:]
            // Each writer owns its keys, so its results are its model's.
            func key() -> [UInt8] { Array("w\(w):\(random.below(120))".utf8) }
            func fail(_ what: String) { failures.withLock { $0.append("writer \(w): \(what); seed \(seed)") } }
            do throws(KeyValueError) {
                for _ in 0..<60 {
                    switch random.below(10) {
                    case 0..<5:
                        let k = key()
                        let v = [UInt8](repeating: UInt8(random.below(256)), count: 1 + random.below(150))
                        try kv.put(k, v)
                        model[k] = v
                    case 5..<7:
                        let k = key()
                        let removed = try kv.delete(k)
                        if removed != (model[k] != nil) { fail("delete returned \(removed)") }
                        model[k] = nil
                    case 7..<9:
                        var ops: [KeyValueOperation] = []
                        for _ in 0..<(1 + random.below(12)) {
                            if random.below(4) == 0 { ops.append(.delete(key: key())) } else { ops.append(.put(key: key(), value: [UInt8](repeating: 9, count: 1 + random.below(90)))) }
                        }
                        try kv.write(ops)
                        KeyValueCrashWorkload.apply(ops, to: &model)
                    default:
                        // Lazy, then durable: visible to the next write at once.
                        let k = key()
                        let v = [UInt8](repeating: 3, count: 20)
                        let lsn = try kv.writeLazy([.put(key: k, value: v)])
                        try kv.waitUntilDurable(lsn)
                        model[k] = v
                    }
                    // Durable on return: a read sees this writer's state.
                    let k = key()
                    if try kv.get(k) != model[k] { fail("get \(String(decoding: k, as: UTF8.self)) differs from the model") }
                }
            } catch {
                fail("\(error)")
            }
            models.withLock { $0[w] = model }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(5))")
        let expected = models.withLock { $0.reduce(into: [[UInt8]: [UInt8]]()) { all, m in all.merge(m) { a, _ in a } } }
        #expect(try kv.contents() == expected)
        #expect(try kv.verifyStructure().keys == UInt64(expected.count))
        let stats = kv.writeGroupStatistics
        #expect(stats.batches == writers * 60 && stats.transactions <= stats.batches)
        kv.close()
        try expectReopened(disk, holds: expected)
    }

    @Test("a group with failing members: each writer gets exactly its own result (its error, its delete flag), nothing of a failed batch applies, the others commit together")
    func errorsInsideAGroup() throws {
        let (_, kv, prefilled) = try smallPrefilledStore(seed: 21)
        defer { kv.close() }
        var model = prefilled
        let before = kv.writeGroupStatistics

        // The members, queued in this order behind a leader held in the hook.
        let tooManyPages = (0..<800).map { KeyValueOperation.put(key: Array("new-\($0)".utf8), value: [UInt8](repeating: 2, count: 200)) }
        enum Call { case put([UInt8], [UInt8]), delete([UInt8]), write([KeyValueOperation]) }
        let calls: [Call] = [
            .put(name(1), [UInt8](repeating: 7, count: 100)),  // the leader
            .write(tooManyPages),  // needs more pages than the store allows
            .delete(name(2)),  // there: true
            .delete(Array("absent".utf8)),  // not there: false
            .put(name(3), [UInt8](repeating: 8, count: 100)),
        ]
        let results = LockedValue<[Int: Result<Bool, KeyValueError>]>([:])
        queueBehindAHeldLeader(kv, callers: calls.count) { i in
            let r: Result<Bool, KeyValueError>
            switch calls[i] {
            case .put(let k, let v): r = Result { () throws(KeyValueError) in try kv.put(k, v); return true }
            case .delete(let k): r = Result { () throws(KeyValueError) in try kv.delete(k) }
            case .write(let ops): r = Result { () throws(KeyValueError) in try kv.write(ops); return true }
            }
            results.withLock { $0[i] = r }
        }
        kv.beforeGroupHook = nil
        let got = results.withLock { $0 }
        #expect(got[0] == .success(true))
        #expect(got[1] == .failure(.store(.pageOutOfRange(page: 40, pageCountMax: 40))))
        #expect(got[2] == .success(true))
        #expect(got[3] == .success(false))
        #expect(got[4] == .success(true))
        model[name(1)] = [UInt8](repeating: 7, count: 100)
        model[name(2)] = nil
        model[name(3)] = [UInt8](repeating: 8, count: 100)
        #expect(try kv.contents() == model)
        _ = try kv.verifyStructure()
        let after = kv.writeGroupStatistics
        // One group of five: the chunk of the leader and the failing batch
        // failed, so those two ran alone; the last three committed together.
        #expect(kv.groupCounters.failedChunks.load(ordering: .relaxed) == 1)
        #expect(after.batches - before.batches == 4 && after.transactions - before.transactions == 2)
    }

    @Test("queued together, batches share one transaction; a group too large for one journal record is applied batch by batch, each whole")
    func groupedBatches() throws {
        let disk = SimulatedDisk(seed: 22)
        try KeyValueStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: simConfiguration())
        // Whole page images: the group below must outgrow one record, which
        // page deltas of its pages would not.
        var options = simOptions()
        options.journalPageDeltas = false
        let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: options)
        var model: [[UInt8]: [UInt8]] = [:]
        let small = (0..<6).map { b in (0..<5).map { KeyValueOperation.put(key: name(b * 5 + $0), value: [UInt8(b)]) } }
        var before = kv.writeGroupStatistics
        let lsns = try kv.writeLazy(batches: small).map { r throws(KeyValueError) in try r.get() }
        for b in small { KeyValueCrashWorkload.apply(b, to: &model) }
        #expect(Set(lsns).count == 1, "one transaction")
        #expect(kv.writeGroupStatistics.transactions - before.transactions == 1)
        try kv.waitUntilDurable(lsns[0])
        #expect(try kv.contents() == model)

        // Bad input fails alone, before the group.
        let mixed = kv.writeLazy(batches: [[.put(key: [1], value: [1])], [.put(key: [UInt8](repeating: 1, count: 300), value: [])], [.delete(key: [1])]])
        #expect(mixed[1] == .failure(.keyTooLarge(bytes: 300, max: kv.keyBytesMax)))
        #expect((try? mixed[0].get()) != nil && (try? mixed[2].get()) != nil)

        // Big values: a leaf holds four, and keeps three when puts in key
        // order split it. The first batch stays under the group's page
        // budget (half a record), so the second joins it; together they
        // exceed a record, alone each fits.
        let value = [UInt8](repeating: 5, count: 900)
        let first = (0..<20).map { KeyValueOperation.put(key: Array("b-\(1000 + $0)".utf8), value: value) }
        let second = (0..<80).map { KeyValueOperation.put(key: Array("c-\(1000 + $0)".utf8), value: value) }
        before = kv.writeGroupStatistics
        let failedBefore = kv.groupCounters.failedChunks.load(ordering: .relaxed)
        let big = kv.writeLazy(batches: [first, second])
        #expect((try? big[0].get()) != nil && (try? big[1].get()) != nil)
        #expect(kv.groupCounters.failedChunks.load(ordering: .relaxed) == failedBefore + 1)
        #expect(kv.writeGroupStatistics.transactions - before.transactions == 2)
        KeyValueCrashWorkload.apply(first, to: &model)
        KeyValueCrashWorkload.apply(second, to: &model)
        try kv.waitUntilDurable(try big[1].get())
        #expect(try kv.contents() == model)
        _ = try kv.verifyStructure()
        kv.close()
        try expectReopened(disk, holds: model)
    }
}
