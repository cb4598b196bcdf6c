import CRaft
import Journal
import JournalPrimitives
@testable import JournalRaft
import Testing
import TestSupport

/// A one-node loop on the real disk: the journal runs its own threads, raft
/// runs on the test's thread, and durability completions reach it through a
/// `RaftDurabilityNotifier`.
@Suite("Raft on the journal's own threads")
struct RealLoopTests {
    final class Environment: RaftEnvironment {
        var random = SplitMix64(seed: 5)
        var nowMilliseconds: UInt64 { monotonicNanos() / 1_000_000 }
        func random(min: Int32, max: Int32) -> Int32 { Int32(Int(min) + Int(random.next() % UInt64(Int(max) - Int(min) + 1))) }
        func send(from: UInt64, to: UInt64, bytes: [UInt8]) {}
    }

    /// Wake-ups from the notifier's thread to the loop.
    final class Wakeups: @unchecked Sendable {
        let lock = ConditionLock()
        lazy var condition = ConditionLock.Condition(lock)
        var count = 0
        func post() { lock.withLock { count += 1; condition.signal() } }
        func wait(after seen: Int) -> Int {
            lock.lock()
            while count == seen { condition.wait() }
            let now = count
            lock.unlock()
            return now
        }
    }

    final class Applied { var done = false; var status: Int32 = -1 }

    @Test("a command commits through durability completions that hop onto the loop, and survives a reopen")
    func singleNode() throws {
        _ = journalLogsSilenced
        let directory = TemporaryDirectory(on: .tmp, "raft")
        let storage = try directory.storage()
        var configuration = JournalConfiguration()
        configuration.segmentBytes = 1 << 20
        configuration.recordBytesMax = 64 << 10
        try Journal.create(storage: storage, configuration: configuration)
        let journal = try Journal.open(storage: storage)
        let wakeups = Wakeups()
        let notifier = RaftDurabilityNotifier(journal: journal) { wakeups.post() }
        let io = JournalRaftIO(store: try RaftLogStore(journal: journal, snapshotStorage: storage), environment: Environment())
        io.durabilityRequested = { notifier.request($0) }
        let machine = RegisterMachine()
        let r = UnsafeMutablePointer<raft>.allocate(capacity: 1)
        r.initialize(to: CRaft.raft())
        defer { r.deallocate() }
        #expect(raft_init(r, io.io, machine.fsm, 1, "n1") == 0)
        var conf = raft_configuration()
        raft_configuration_init(&conf)
        _ = raft_configuration_add(&conf, 1, "n1", Int32(RAFT_VOTER))
        #expect(raft_bootstrap(r, &conf) == 0)
        raft_configuration_close(&conf)
        #expect(raft_start(r) == 0)
        #expect(raft_state(r) == Int32(RAFT_LEADER), "a lone voter elects itself at start")

        let applied = Applied()
        let command = RegisterMachine.command(key: 1, value: 42)
        let base = raft_malloc(command.count)!
        command.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        var buf = raft_buffer(base: base, len: command.count)
        let req = UnsafeMutablePointer<raft_apply>.allocate(capacity: 1)
        defer { req.deallocate() }
        req.initialize(to: raft_apply())
        req.pointee.data = Unmanaged.passUnretained(applied).toOpaque()
        #expect(raft_apply(r, req, &buf, 1) { req, status, _ in
            let applied = Unmanaged<Applied>.fromOpaque(req!.pointee.data).takeUnretainedValue()
            applied.done = true
            applied.status = status
        } == 0)
        var seen = 0
        while !applied.done {
            io.runCompletions()
            if applied.done { break }
            seen = wakeups.wait(after: seen)
        }
        #expect(applied.status == 0)
        #expect(machine.values[1] == 42)
        #expect(journal.durableLSN >= 2)

        raft_close(r, nil)
        notifier.stop()
        journal.close()
        let reopened = try Journal.open(storage: directory.storage())
        defer { reopened.close() }
        let loaded = try RaftLogStore(journal: reopened, snapshotStorage: storage).load()
        #expect(loaded.entries.map(\.type) == [RaftEntryType.change, RaftEntryType.command])
        #expect(loaded.entries.last?.payload == command)
    }
}
