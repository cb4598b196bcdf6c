import CRaft
import Journal
import JournalPrimitives
import KeyValueStore

// Taking a raft snapshot of the store (raft's state machine version 3, in
// three steps):
// - `snapshot`, on the loop, only notes what the snapshot must hold: the
//   applied index and the store LSN of its batch.
// - `snapshot_async`, which the raft I/O runs off the loop
//   (`JournalRaftIO.offLoopRunner`), waits for that batch to be durable,
//   checkpoints the store (which truncates the store's journal behind the
//   checkpoint, as its retention allows) and reads the store's pages at
//   that checkpoint into the payload (`KVSnapshotPayload`).
// - `snapshot_finalize`, back on the loop once raft has stored the snapshot
//   (or failed to), frees the payload and reports a failure of the work.
// Raft goes on applying commands meanwhile, so the pages may hold commands
// after the snapshot's index; the index the store records with each batch
// makes that harmless: a node that installs or restores the pages skips the
// commands they already hold.

/// What a snapshot being taken must hold, captured on the loop.
struct SnapshotInProgress: @unchecked Sendable {
    // @unchecked: the store is thread-safe; the rest are values.
    var appliedIndex: UInt64
    var lsn: LSN
    var kv: KeyValueStore
    /// The failure of the work off the loop, for `snapshot_finalize`.
    var failure: String?
}

extension KVStateMachine {
    static func installSnapshotMethods(_ fsm: UnsafeMutablePointer<raft_fsm>) {
        fsm.pointee.version = 3
        fsm.pointee.snapshot = { fsm, bufs, count in KVStateMachine.from(fsm).beginSnapshot(bufs, count) }
        fsm.pointee.snapshot_async = { fsm, bufs, count in KVStateMachine.from(fsm).takeSnapshot(bufs, count) }
        fsm.pointee.snapshot_finalize = { fsm, bufs, count in KVStateMachine.from(fsm).finalizeSnapshot(bufs, count) }
    }

    /// On the loop: notes what the snapshot must hold; no buffer yet.
    /// Refused (`RAFT_BUSY`: raft tries again after the next entries it
    /// applies) while the configuration may not be committed: see
    /// `configurationIsSettled`.
    func beginSnapshot(_ bufs: UnsafeMutablePointer<UnsafeMutablePointer<raft_buffer>?>?, _ count: UnsafeMutablePointer<UInt32>?) -> Int32 {
        bufs?.pointee = nil
        count?.pointee = 0
        guard configurationIsSettled else { return RAFT_BUSY }
        let capture = SnapshotInProgress(appliedIndex: appliedIndex, lsn: lastLSN, kv: kv, failure: nil)
        taking.withLock { $0 = capture }
        return 0
    }

    /// Whether raft's configuration is committed and applied, so that a
    /// snapshot taken now carries a configuration no server will ever roll
    /// back. Canonical raft 0.15 stores in a snapshot its latest
    /// configuration, committed or not, under the index of the last
    /// committed one (`takeSnapshot` in src/replication.c): a snapshot taken
    /// while a configuration entry is uncommitted (its index is then above
    /// the snapshot's) would keep that configuration after a new leader
    /// truncated the entry, on this node at its next start and on every
    /// follower it is sent to, with nothing left in the log to roll it back
    /// from. The entry is uncommitted while `configuration_uncommitted_index`
    /// is set; and after a restart raft 0.15 takes the last configuration
    /// entry of the log as committed without knowing, so its index must be
    /// applied as well.
    var configurationIsSettled: Bool {
        guard let raft else { return true }
        return Self.configurationIsSettled(raft)
    }

    /// Whether `raft`'s configuration is committed and applied (see
    /// `configurationIsSettled`); on the raft loop.
    static func configurationIsSettled(_ raft: UnsafeMutablePointer<raft>) -> Bool {
        raft.pointee.configuration_uncommitted_index == 0 && raft.pointee.configuration_index <= raft_last_applied(raft)
    }

    /// Off the loop: the checkpoint and the payload. Touches nothing of the
    /// machine but `taking`.
    func takeSnapshot(_ bufs: UnsafeMutablePointer<UnsafeMutablePointer<raft_buffer>?>?, _ count: UnsafeMutablePointer<UInt32>?) -> Int32 {
        guard let capture = taking.withLock({ $0 }) else { return RAFT_INVALID }
        let pages: KeyValuePages
        do throws(KeyValueError) {
            try capture.kv.waitUntilDurable(capture.lsn)
            try capture.kv.checkpoint()
            pages = try capture.kv.exportPages()
        } catch {
            taking.withLock { $0?.failure = "the key-value store failed taking a snapshot: \(error)" }
            return RAFT_IOERR
        }
        guard let buffer = Self.payloadBuffer(appliedIndex: capture.appliedIndex, pages: pages) else { return RAFT_NOMEM }
        bufs?.pointee = buffer
        count?.pointee = 1
        return 0
    }

    /// The payload of `pages` in one buffer of raft's allocator.
    static func payloadBuffer(appliedIndex: UInt64, pages: KeyValuePages) -> UnsafeMutablePointer<raft_buffer>? {
        let total = KVSnapshotPayload.byteCount(pages)
        guard let array = raft_calloc(1, MemoryLayout<raft_buffer>.stride)?.bindMemory(to: raft_buffer.self, capacity: 1) else { return nil }
        guard let base = raft_malloc(total) else {
            raft_free(array)
            return nil
        }
        KVSnapshotPayload.encode(appliedIndex: appliedIndex, pages: pages, into: UnsafeMutableRawBufferPointer(start: base, count: total))
        array.pointee = raft_buffer(base: base, len: total)
        return array
    }

    /// On the loop, once raft is done with the snapshot (stored or not):
    /// frees the payload; a failed checkpoint stops the node.
    func finalizeSnapshot(_ bufs: UnsafeMutablePointer<UnsafeMutablePointer<raft_buffer>?>?, _ count: UnsafeMutablePointer<UInt32>?) -> Int32 {
        if let array = bufs?.pointee {
            for i in 0..<Int(count?.pointee ?? 0) { raft_free(array[i].base) }
            raft_free(array)
        }
        bufs?.pointee = nil
        count?.pointee = 0
        let done = taking.withLock { state in
            defer { state = nil }
            return state
        }
        if let failed = done?.failure {
            failure = .store(failed)
        } else if done != nil {
            snapshotsTaken += 1
        }
        return 0
    }
}
