@_spi(Testing) import Journal
import JournalPrimitives
import JournalStorage
@_spi(Testing) import JournalTesting
@testable import KeyValueStore
import PageStore
import StoreCrashTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Key-value store: writes from tasks")
struct AsyncWriteTests {
    @Test("32 writer tasks through the async API against per-writer dictionaries: every put, delete result and batch as the model says, the final state the union, after reopen too")
    func concurrentTasksModel() async throws {
        let seed: UInt64 = 0xA5C_0001
        let disk = SimulatedDisk(seed: seed)
        try KeyValueStore.create(location: PageStoreLocation(sharing: disk.storage()), configuration: simConfiguration())
        let kv = try KeyValueStore.open(location: PageStoreLocation(sharing: disk.storage()), options: simOptions(runtime: .threads, applyThreshold: 128))
        let writers = 32
        let operations = 40
        // Bad input fails alone, before any group.
        await #expect(throws: KeyValueError.keyTooLarge(bytes: 300, max: kv.keyBytesMax)) {
            try await kv.put([UInt8](repeating: 1, count: 300), [])
        }
        let outcomes = await withTaskGroup(of: (model: [[UInt8]: [UInt8]], failures: [String]).self) { group in
            for w in 0..<writers {
                group.addTask {
                    var random = SplitMix64(seed: seed &+ UInt64(w))
                    var model: [[UInt8]: [UInt8]] = [:]
                    var failures: [String] = []
                    // Each writer owns its keys, so its results are its model's.
                    func key() -> [UInt8] { Array("t\(w):\(random.below(60))".utf8) }
                    do throws(KeyValueError) {
                        for _ in 0..<operations {
                            switch random.below(10) {
                            case 0..<5:
                                let k = key()
                                let v = [UInt8](repeating: UInt8(random.below(256)), count: 1 + random.below(150))
                                try await kv.put(k, v)
                                model[k] = v
                            case 5..<7:
                                let k = key()
                                let removed = try await kv.delete(k)
                                if removed != (model[k] != nil) { failures.append("writer \(w): delete returned \(removed); seed \(seed)") }
                                model[k] = nil
                            case 7..<9:
                                var ops: [KeyValueOperation] = []
                                for _ in 0..<(1 + random.below(8)) {
                                    if random.below(4) == 0 { ops.append(.delete(key: key())) } else { ops.append(.put(key: key(), value: [UInt8](repeating: 9, count: 1 + random.below(90)))) }
                                }
                                try await kv.write(ops)
                                KeyValueCrashWorkload.apply(ops, to: &model)
                            default:
                                let k = key()
                                let v = [UInt8](repeating: 3, count: 20)
                                let lsn = try await kv.writeLazy([.put(key: k, value: v)])
                                try await kv.waitUntilDurable(lsn)
                                model[k] = v
                            }
                            // Durable on return: a read sees this writer's state.
                            let k = key()
                            if try kv.get(k) != model[k] { failures.append("writer \(w): get \(String(decoding: k, as: UTF8.self)) differs from the model; seed \(seed)") }
                        }
                    } catch {
                        failures.append("writer \(w): \(error); seed \(seed)")
                    }
                    return (model, failures)
                }
            }
            var all: [(model: [[UInt8]: [UInt8]], failures: [String])] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let failures = outcomes.flatMap(\.failures)
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        let expected = outcomes.reduce(into: [[UInt8]: [UInt8]]()) { all, o in all.merge(o.model) { a, _ in a } }
        #expect(try kv.contents() == expected)
        #expect(try kv.verifyStructure().keys == UInt64(expected.count))
        let stats = kv.writeGroupStatistics
        #expect(stats.batches == writers * operations && stats.transactions <= stats.batches)
        kv.close()
        try expectReopened(disk, holds: expected)
    }

    @Test("one group of task and thread writers behind a thread leader: each gets exactly its own result (a task's error reaches that task only, each delete flag its caller), the others commit together")
    func mixedGroup() throws {
        let (disk, kv, prefilled) = try smallPrefilledStore(seed: 23)
        defer { kv.close() }
        var model = prefilled
        let before = kv.writeGroupStatistics
        let failedBefore = kv.groupCounters.failedChunks.load(ordering: .relaxed)

        // The members, queued in this order behind the leader held in the hook.
        let tooManyPages = (0..<800).map { KeyValueOperation.put(key: Array("new-\($0)".utf8), value: [UInt8](repeating: 2, count: 200)) }
        enum Call: Sendable { case put([UInt8], [UInt8]), delete([UInt8]), write([KeyValueOperation]) }
        let calls: [(call: Call, task: Bool)] = [
            (.put(name(1), [UInt8](repeating: 7, count: 100)), false),  // the leader, a thread
            (.write(tooManyPages), true),  // a task; needs more pages than the store allows
            (.delete(name(2)), true),  // a task; there: true
            (.delete(Array("absent".utf8)), false),  // a thread; not there: false
            (.delete(name(4)), true),  // a task; there: true
            (.put(name(3), [UInt8](repeating: 8, count: 100)), true),  // a task
        ]
        // A class: the writer tasks outlive the closure that starts them.
        final class Results: Sendable { let byCall = LockedValue<[Int: Result<Bool, KeyValueError>]>([:]) }
        let results = Results()
        queueBehindAHeldLeader(kv, callers: calls.count) { i in
            let (call, isTask) = calls[i]
            if isTask {
                // Started here, finished whenever its group wakes it.
                Task.detached {
                    let r: Result<Bool, KeyValueError>
                    do throws(KeyValueError) {
                        switch call {
                        case .put(let k, let v): try await kv.put(k, v); r = .success(true)
                        case .delete(let k): r = .success(try await kv.delete(k))
                        case .write(let ops): try await kv.write(ops); r = .success(true)
                        }
                    } catch {
                        r = .failure(error)
                    }
                    results.byCall.withLock { $0[i] = r }
                }
                return
            }
            let r: Result<Bool, KeyValueError>
            switch call {
            case .put(let k, let v): r = Result { () throws(KeyValueError) in try kv.put(k, v); return true }
            case .delete(let k): r = Result { () throws(KeyValueError) in try kv.delete(k) }
            case .write(let ops): r = Result { () throws(KeyValueError) in try kv.write(ops); return true }
            }
            results.byCall.withLock { $0[i] = r }
        }
        // The tasks finish once their group's durability wakes them.
        spin { results.byCall.withLock { $0.count } == calls.count }
        kv.beforeGroupHook = nil
        let got = results.byCall.withLock { $0 }
        #expect(got[0] == .success(true))
        #expect(got[1] == .failure(.store(.pageOutOfRange(page: 40, pageCountMax: 40))))
        #expect(got[2] == .success(true))
        #expect(got[3] == .success(false))
        #expect(got[4] == .success(true))
        #expect(got[5] == .success(true))
        model[name(1)] = [UInt8](repeating: 7, count: 100)
        model[name(2)] = nil
        model[name(4)] = nil
        model[name(3)] = [UInt8](repeating: 8, count: 100)
        #expect(try kv.contents() == model)
        _ = try kv.verifyStructure()
        let after = kv.writeGroupStatistics
        // One group of six: the chunk of the leader and the failing batch
        // failed, so those two ran alone; the last four committed together.
        #expect(kv.groupCounters.failedChunks.load(ordering: .relaxed) == failedBefore + 1)
        #expect(after.batches - before.batches == 5 && after.transactions - before.transactions == 2)
        kv.close()
        try expectReopened(disk, holds: model)
    }
}
