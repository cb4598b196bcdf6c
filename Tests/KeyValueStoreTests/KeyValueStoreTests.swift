@_spi(Testing) import Journal
import JournalPrimitives
import JournalStorage
@_spi(Testing) import JournalTesting
import KeyValueStore
import PageStore
import StoreCrashTesting
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A small store configuration for the simulated disk.
func simConfiguration() -> PageStoreConfiguration {
    var c = PageStoreConfiguration()
    c.pageCountMax = 1 << 14
    c.journal.segmentBytes = 512 << 10
    c.journal.recordBytesMax = 128 << 10
    return c
}

func simOptions(runtime: JournalRuntime = .manual, applyThreshold: Int = 64) -> PageStoreOptions {
    var o = PageStoreOptions()
    o.journal.runtime = runtime
    o.journal.spareSegments = 1
    o.applyThresholdVersions = applyThreshold
    o.logger.logLevel = .warning
    o.journal.logger.logLevel = .warning
    return o
}

/// A store on a simulated disk limited to 40 pages, prefilled with 60 keys
/// of 100 bytes, opened on threads; and the model of its contents.
func smallPrefilledStore(seed: UInt64) throws -> (disk: SimulatedDisk, kv: KeyValueStore, model: [[UInt8]: [UInt8]]) {
    let disk = SimulatedDisk(seed: seed)
    var configuration = simConfiguration()
    configuration.pageCountMax = 40
    try KeyValueStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: configuration)
    let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions(runtime: .threads))
    var model: [[UInt8]: [UInt8]] = [:]
    let prefill = (0..<60).map { KeyValueOperation.put(key: name($0), value: [UInt8](repeating: 1, count: 100)) }
    do {
        try kv.write(prefill)
    } catch {
        kv.close()
        throw error
    }
    KeyValueCrashWorkload.apply(prefill, to: &model)
    return (disk, kv, model)
}

/// Reopens the store on `disk` (closed by the caller) and expects it to hold `expected`.
func expectReopened(_ disk: SimulatedDisk, holds expected: [[UInt8]: [UInt8]]) throws {
    let reopened = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions())
    defer { reopened.close() }
    #expect(try reopened.contents() == expected)
}

/// "key-" and five digits.
func name(_ i: Int) -> [UInt8] {
    let digits = String(i)
    return Array(("key-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits).utf8)
}

/// A deterministic generator for the model test.
extension SplitMix64 {
    /// A number in `0..<n`, by modulo (the workloads' draws since their seeds were chosen).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

@Suite("Key-value store")
struct KeyValueStoreTests {
    @Test("put, get, delete, ordered scan, batch; splits to several levels")
    func basics() throws {
        let disk = SimulatedDisk(seed: 1)
        let location = PageStoreLocation(sharing: disk.storage())
        try KeyValueStore.create(location: location, configuration: simConfiguration())
        let kv = try KeyValueStore.open(location: location, options: simOptions())
        defer { kv.close() }
        #expect(try kv.get(Array("missing".utf8)) == nil)
        #expect(try kv.count() == 0)
        let n = 3000
        var ops: [KeyValueOperation] = []
        for i in 0..<n {
            let k: [UInt8] = name((i * 7919) % n)
            let v = [UInt8](repeating: UInt8(i % 251), count: 100)
            ops.append(.put(key: k, value: v))
        }
        // 3000 keys of ~110 bytes: ~90 leaves, so two levels and several splits.
        for chunk in stride(from: 0, to: n, by: 20) { try kv.write(Array(ops[chunk..<min(n, chunk + 20)])) }
        #expect(try kv.count() == UInt64(n))
        #expect(try kv.get(Array("key-00042".utf8))?.count == 100)
        let all = try kv.all()
        #expect(all.count == n)
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.key.lexicographicallyPrecedes($1.key) }, "scan is in key order")
        var fromMiddle: [[UInt8]] = []
        try kv.scan(from: Array("key-01500".utf8)) { k, _ in
            fromMiddle.append(k)
            return fromMiddle.count < 3
        }
        #expect(fromMiddle == ["key-01500", "key-01501", "key-01502"].map { Array($0.utf8) })
        #expect(try kv.delete(Array("key-01501".utf8)))
        #expect(try !kv.delete(Array("key-01501".utf8)))
        #expect(try kv.get(Array("key-01501".utf8)) == nil)
        #expect(try kv.count() == UInt64(n - 1))
        try kv.put(Array("key-00000".utf8), Array("new".utf8))
        #expect(try kv.get(Array("key-00000".utf8)) == Array("new".utf8))
        #expect(throws: KeyValueError.keyTooLarge(bytes: 300, max: kv.keyBytesMax)) { try kv.put([UInt8](repeating: 1, count: 300), []) }
        #expect(throws: KeyValueError.entryTooLarge(bytes: 2000, max: kv.entryBytesMax)) { try kv.put([1], [UInt8](repeating: 1, count: 1999)) }
    }

    @Test("a lone put journals the bytes it changes, not its leaf and the meta page; the store recovers them")
    func lonePutJournalsADelta() throws {
        var bytesPerPut: [Bool: Int] = [:]
        for deltas in [true, false] {
            let disk = SimulatedDisk(seed: 31)
            try KeyValueStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: simConfiguration())
            var options = simOptions()
            options.journalPageDeltas = deltas
            var model: [[UInt8]: [UInt8]] = [:]
            do {
                let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: options)
                let before = kv.statistics.pageStore.committedRecordBytes
                for i in 0..<300 {
                    let k = Array("w0:\(i)".utf8), v = [UInt8](repeating: UInt8(i % 251), count: 100)
                    try kv.put(k, v)
                    model[k] = v
                }
                bytesPerPut[deltas] = (kv.statistics.pageStore.committedRecordBytes - before) / 300
                kv.close()
            }
            let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: options)
            #expect(try kv.contents() == model)
            _ = try kv.verifyStructure()
            kv.close()
        }
        let delta = try #require(bytesPerPut[true]), whole = try #require(bytesPerPut[false])
        #expect(whole > 8192, "two whole pages per put")
        #expect(delta < 4096, "the changed bytes of the leaf and the meta page: \(delta) bytes per put")
    }

    @Test("randomized model test against a dictionary, with checkpoints and a reopen every few operations")
    func modelWithReopen() throws {
        let seed: UInt64 = 0x5EED_0001
        var random = SplitMix64(seed: seed)
        let disk = SimulatedDisk(seed: seed)
        try KeyValueStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: simConfiguration())
        var model: [[UInt8]: [UInt8]] = [:]
        let keySpace = 400
        func key() -> [UInt8] { Array("user:\(random.below(keySpace))".utf8) }
        var reopens = 0
        var checkpoints = 0
        for round in 0..<25 {
            let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions(applyThreshold: 32))
            #expect(try kv.contents() == model, "state after reopen \(round); seed \(seed)")
            for _ in 0..<(5 + random.below(30)) {
                switch random.below(10) {
                case 0..<5:
                    let k = key()
                    let v = [UInt8](repeating: UInt8(random.below(256)), count: 1 + random.below(200))
                    try kv.put(k, v)
                    model[k] = v
                case 5..<7:
                    let k = key()
                    #expect(try kv.delete(k) == (model[k] != nil), "seed \(seed)")
                    model[k] = nil
                case 7..<9:
                    var ops: [KeyValueOperation] = []
                    for _ in 0..<(1 + random.below(40)) {
                        if random.below(4) == 0 { ops.append(.delete(key: key())) } else { ops.append(.put(key: key(), value: [UInt8](repeating: 7, count: 1 + random.below(100)))) }
                    }
                    try kv.write(ops)
                    KeyValueCrashWorkload.apply(ops, to: &model)
                default:
                    try kv.checkpoint()
                    checkpoints += 1
                }
                let k = key()
                #expect(try kv.get(k) == model[k], "seed \(seed)")
            }
            #expect(try kv.count() == UInt64(model.count))
            kv.close()
            reopens += 1
        }
        #expect(reopens == 25 && checkpoints > 0)
    }

    @Test("heavy deletes against a dictionary model, with reopens: nodes merge, pages return to the free list, and the same keys inserted and deleted again do not grow the store")
    func heavyDeletesWithReopen() throws {
        let seed: UInt64 = 0x5EED_0002
        var random = SplitMix64(seed: seed)
        let disk = SimulatedDisk(seed: seed)
        let location = PageStoreLocation(sharing: disk.storage())
        var config = simConfiguration()
        config.journal.segmentBytes = 2 << 20
        config.journal.recordBytesMax = 1 << 20  // batches of many deletes touch many leaves
        try KeyValueStore.create(location: location, configuration: config)
        var model: [[UInt8]: [UInt8]] = [:]
        var kv = try KeyValueStore.open(location: location, options: simOptions(applyThreshold: 64))
        var operations = 0
        var reopens = 0
        func step() throws {
            operations += 1
            guard operations % 9 == 0 else { return }
            kv.close()
            kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions(applyThreshold: 64))
            reopens += 1
            #expect(try kv.contents() == model, "after reopen \(reopens); seed \(seed)")
            _ = try kv.verifyStructure()
        }
        let keyCount = 1200
        let keys = (0..<keyCount).map { Array("item:\($0 * 7919 % keyCount)".utf8) }
        var pagesAfterFirstFill: UInt64 = 0
        var pageCounts: [UInt64] = []
        for cycle in 0..<4 {
            // Fill in batches of random sizes, values of random lengths.
            var order = keys.shuffled(using: &random)
            while !order.isEmpty {
                let n = min(order.count, 1 + random.below(40))
                var ops: [KeyValueOperation] = []
                for k in order.prefix(n) { ops.append(.put(key: k, value: [UInt8](repeating: UInt8(cycle + 1), count: 20 + random.below(180)))) }
                order.removeFirst(n)
                try kv.write(ops)
                KeyValueCrashWorkload.apply(ops, to: &model)
                try step()
            }
            let full = try kv.verifyStructure()
            #expect(full.keys == UInt64(keyCount) && full.depth >= 2, "seed \(seed)")
            if cycle == 0 { pagesAfterFirstFill = kv.statistics.pageStore.pageCount }
            // Delete everything: single deletes and batches, checking gets.
            order = keys.shuffled(using: &random)
            while !order.isEmpty {
                if random.below(3) == 0 {
                    let k = order.removeFirst()
                    #expect(try kv.delete(k), "seed \(seed)")
                    model[k] = nil
                } else {
                    let n = min(order.count, 1 + random.below(60))
                    let ops = order.prefix(n).map { KeyValueOperation.delete(key: $0) }
                    order.removeFirst(n)
                    try kv.write(ops)
                    KeyValueCrashWorkload.apply(ops, to: &model)
                }
                if let probe = keys.randomElement(using: &random) { #expect(try kv.get(probe) == model[probe], "seed \(seed)") }
                try step()
            }
            let empty = try kv.verifyStructure()
            #expect(empty.keys == 0 && empty.depth == 1 && empty.leafPages == 1 && empty.internalPages == 0, "an empty tree is one root leaf")
            #expect(UInt64(empty.freePages) + 2 == empty.allocatedPages, "every other page is on the free list")
            pageCounts.append(kv.statistics.pageStore.pageCount)
        }
        #expect(model.isEmpty)
        #expect(reopens > 20)
        // Without reuse each cycle would add the whole tree again.
        #expect(pageCounts.allSatisfy { $0 <= pagesAfterFirstFill + pagesAfterFirstFill / 4 }, "pages \(pageCounts), first fill \(pagesAfterFirstFill)")
        kv.close()
    }

    @Test("64 concurrent writers: every durable put is there, and their commits share journal writes")
    func concurrentWriters() throws {
        let disk = SimulatedDisk(seed: 2)
        let location = PageStoreLocation(sharing: disk.storage())
        try KeyValueStore.create(location: location, configuration: simConfiguration())
        let kv = try KeyValueStore.open(location: location, options: simOptions(runtime: .threads, applyThreshold: 256))
        let writers = 64
        let putsPerWriter = 20
        let failures = LockedValue<[String]>([])
        runThreads(writers) { w in
            for i in 0..<putsPerWriter {
                do {
                    try kv.put(Array("w\(w)-\(i)".utf8), [UInt8](repeating: UInt8(w), count: 100))
                    // Durable before it returns: a read sees it at once.
                    if try kv.get(Array("w\(w)-\(i)".utf8)) == nil { failures.withLock { $0.append("w\(w)-\(i) not visible after put") } }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(try kv.count() == UInt64(writers * putsPerWriter))
        // Write groups: at most one transaction per put.
        let statistics = kv.statistics
        #expect(statistics.pageStore.durableLSN <= UInt64(writers * putsPerWriter))
        #expect(statistics.writeGroupBatches == writers * putsPerWriter, "each put one batch")
        #expect(statistics.writeGroupTransactions == Int(statistics.pageStore.durableLSN), "each transaction one commit")
        kv.close()
        let reopened = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions())
        defer { reopened.close() }
        #expect(reopened.recoveryReport.replayedTransactions == statistics.writeGroupTransactions, "no checkpoint: the journal replayed whole")
        #expect(try reopened.count() == UInt64(writers * putsPerWriter))
        #expect(try reopened.get(Array("w63-19".utf8)) == [UInt8](repeating: 63, count: 100))
    }
}
