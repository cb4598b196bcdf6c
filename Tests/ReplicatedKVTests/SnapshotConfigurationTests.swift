import CRaft
import KeyValueStore
@testable import ReplicatedKV
import TestSupport
import Testing

/// A snapshot is taken only while raft's configuration is committed and
/// applied: canonical raft 0.15 would store an uncommitted configuration in
/// it, which no server could roll back once a new leader drops its entry.
@Suite("Replicated key-value service: snapshots carry committed configurations")
struct SnapshotConfigurationTests {
    @Test("the state machine refuses (busy) to begin a snapshot while a configuration is uncommitted or not yet applied")
    func busyWhileUnsettled() throws {
        let directory = TemporaryDirectory(on: .tmp, "kv-snap-conf")
        let machine = try KVStateMachine(box: machineStore(directory, keys: 10, tag: 1, index: 0))
        defer { machine.kv.close() }
        let r = UnsafeMutablePointer<raft>.allocate(capacity: 1)
        r.initialize(to: raft())
        defer { r.deallocate() }
        machine.raft = r
        r.pointee.last_applied = 20
        var bufs: UnsafeMutablePointer<raft_buffer>?
        var count: UInt32 = 0
        func begin() -> Int32 {
            let rv = machine.fsm.pointee.snapshot?(machine.fsm, &bufs, &count) ?? -1
            if rv == 0 { _ = machine.fsm.pointee.snapshot_finalize?(machine.fsm, &bufs, &count) }
            return rv
        }
        // A configuration entry appended and not yet committed.
        r.pointee.configuration_index = 5
        r.pointee.configuration_uncommitted_index = 21
        #expect(begin() == RAFT_BUSY)
        #expect(machine.taking.withLock { $0 } == nil, "nothing captured")
        // After a restart raft 0.15 takes the last configuration entry as
        // committed: beyond the applied index it may not be.
        r.pointee.configuration_uncommitted_index = 0
        r.pointee.configuration_index = 22
        #expect(begin() == RAFT_BUSY)
        // Committed and applied.
        r.pointee.configuration_index = 20
        #expect(begin() == 0)
        #expect(machine.failure == nil)
    }
}
