import CRaft
import Journal
import JournalPrimitives
import KeyValueStore

// The replicated store's state machine: raft's `struct raft_fsm` on the
// key-value store. Entries are applied in log order on the raft loop, each
// (one command, or a batch of them) as one batch of the store (`writeLazy`:
// the loop never waits for the disk) that also records the entry's raft
// index under a reserved key, so the store's state and the index it
// reflects are durable together. After a
// restart raft replays committed entries from its snapshot; those at or
// below the recorded index are skipped, so nothing is applied twice and,
// since the store keeps a prefix of its batches, nothing is lost.
//
// Raft snapshots are the store's pages (KVStateMachine+Snapshot.swift):
// taken through a checkpoint off the loop, installed on a follower by
// replacing the store's state atomically.
//
// User keys are stored behind the prefix "u", the service's own under "m".

final class KVStateMachine {
    static let appliedKey: [UInt8] = Array("m/raft-applied-index".utf8)
    static let userPrefix: UInt8 = UInt8(ascii: "u")

    /// The node's store; a snapshot installed from the leader replaces it.
    let box: KVStoreBox
    /// The store open now.
    var kv: KeyValueStore { box.store }
    let fsm: UnsafeMutablePointer<raft_fsm>
    /// The raft instance applying to this machine (set once it exists): the
    /// index of the entry being applied is its last applied index + 1.
    var raft: UnsafeMutablePointer<raft>?
    /// The raft index of the last command applied to the store.
    private(set) var appliedIndex: UInt64
    /// The store LSN of the last batch applied: a read that must see every
    /// applied command waits until it is durable.
    private(set) var lastLSN: LSN = 0
    /// Snapshots that replaced the store's state since the node started
    /// (installed by a leader, or restored at start over an older store).
    private(set) var snapshotsRestored = 0
    /// Snapshots taken since the node started (their work done off the loop).
    var snapshotsTaken = 0
    /// Set when the store failed or an entry cannot be applied: the node
    /// must stop. Set on the loop only.
    var failure: ReplicatedKVError?
    /// Commands applied since the node started, and the entries among them
    /// that carried several (a batch): `/status` reports both.
    private(set) var commandsApplied = 0
    private(set) var batchEntriesApplied = 0
    /// The snapshot being taken: what `snapshot` captured on the loop, for
    /// `snapshot_async` to finish off it (KVStateMachine+Snapshot.swift).
    let taking = LockedValue<SnapshotInProgress?>(nil)
    /// What an install off the loop did, until the loop takes it
    /// (KVStateMachine+Install.swift).
    let offLoopInstall = LockedValue<OffLoopInstallOutcome?>(nil)
    /// Runs off the loop before an install there (tests hold it open).
    var installHook: (@Sendable () -> Void)?

    init(box: KVStoreBox) throws(KeyValueError) {
        self.box = box
        appliedIndex = try box.store.get(Self.appliedKey).flatMap(Self.index) ?? 0
        fsm = .allocate(capacity: 1)
        fsm.initialize(to: raft_fsm())
        fsm.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        fsm.pointee.apply = { fsm, buf, result in
            result?.pointee = nil
            let bytes = buf.map { UnsafeRawBufferPointer(start: $0.pointee.base, count: $0.pointee.len) }
            return KVStateMachine.from(fsm).apply(bytes ?? UnsafeRawBufferPointer(start: nil, count: 0))
        }
        fsm.pointee.restore = { fsm, buf in
            guard let buf else { return RAFT_MALFORMED }
            defer { raft_free(buf.pointee.base) }
            return KVStateMachine.from(fsm).restore(UnsafeRawBufferPointer(start: buf.pointee.base, count: buf.pointee.len))
        }
        Self.installSnapshotMethods(fsm)
    }

    deinit {
        fsm.deinitialize(count: 1)
        fsm.deallocate()
    }

    static func from(_ fsm: UnsafeMutablePointer<raft_fsm>?) -> KVStateMachine {
        guard let data = fsm?.pointee.data else { preconditionFailure("an FSM without its machine") }
        return Unmanaged<KVStateMachine>.fromOpaque(data).takeUnretainedValue()
    }

    static func index(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        return bytes.withUnsafeBytes { $0.le64(0) }
    }

    static func indexBytes(_ index: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: index >> (8 * UInt64($0))) } }

    static func userKey(_ key: [UInt8]) -> [UInt8] { [userPrefix] + key }

    /// Applies the entry at the next index: its command, or its batch's
    /// commands in order, in one store batch with the applied index. A
    /// command the store rejects (too large: the API checks first, so only
    /// a faulty peer sends one) is skipped on every node alike. An entry
    /// that is no command this version knows, and a store failure, stop
    /// the node (`failure`): skipping the entry would let replicas diverge.
    func apply(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard let raft else { preconditionFailure("apply before the machine knows its raft") }
        let index = raft_last_applied(raft) + 1
        if index <= appliedIndex { return 0 }
        let commands: [KVCommand]
        do { commands = try KVCommand.commands(in: bytes) } catch {
            failure = .refusedEntry(index: index, reason: error)
            return RAFT_MALFORMED
        }
        let mark = KeyValueOperation.put(key: Self.appliedKey, value: Self.indexBytes(index))
        var operations = commands.map(Self.operation)
        operations.append(mark)
        do throws(KeyValueError) {
            do { lastLSN = try kv.writeLazy(operations) } catch .keyTooLarge, .entryTooLarge {
                lastLSN = try applyEach(operations)
            }
        } catch {
            failure = .store("the key-value store failed applying entry \(index): \(error)")
            return RAFT_IOERR
        }
        appliedIndex = index
        commandsApplied += commands.count
        if commands.count > 1 { batchEntriesApplied += 1 }
        return 0
    }

    /// The store operation of `command`, on its user key.
    static func operation(_ command: KVCommand) -> KeyValueOperation {
        switch command {
        case .put(let key, let value): .put(key: userKey(key), value: value)
        case .delete(let key): .delete(key: userKey(key))
        }
    }

    /// Writes `operations` (the applied index last) one batch each, skipping
    /// those the store rejects as too large. A crash keeps a prefix of them,
    /// without the index: the entry is applied again whole after a restart,
    /// which leaves each key as the entry's last write to it says.
    private func applyEach(_ operations: [KeyValueOperation]) throws(KeyValueError) -> LSN {
        var lsn = lastLSN
        for result in kv.writeLazy(batches: operations.map { [$0] }) {
            switch result {
            case .success(let written): lsn = max(lsn, written)
            case .failure(.keyTooLarge), .failure(.entryTooLarge): continue
            case .failure(let error): throw error
            }
        }
        return lsn
    }

    /// Replaces the store's state with a snapshot's, unless the store
    /// already reflects it: at start raft restores its last snapshot, which
    /// the durable store has usually passed. A snapshot of pages replaces
    /// the store atomically; an image (the format before pages) is written
    /// pair by pair, its index last, so a crash before the end leaves the
    /// old index and the next start restores it again.
    func restore(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        switch KVSnapshotPayload.decode(bytes) {
        case nil:
            return RAFT_MALFORMED
        case .image(let image):
            if image.appliedIndex <= appliedIndex { return 0 }
            do throws(KeyValueError) { try replace(with: image) } catch {
                failure = .store("the key-value store failed restoring a snapshot: \(error)")
                return RAFT_IOERR
            }
        case .pages(let header, let pages):
            if header.appliedIndex <= appliedIndex { return 0 }
            do throws(KeyValueError) { try install(pages, pageBytes: header.pageBytes) } catch {
                failure = .store("the key-value store failed installing a snapshot: \(error)")
                return RAFT_IOERR
            }
        }
        return 0
    }

    /// Makes `pages` the store's state (atomically, `KVStoreBox.install`)
    /// and takes its applied index from them.
    private func install(_ pages: UnsafeRawBufferPointer, pageBytes: Int) throws(KeyValueError) {
        try kv.waitUntilDurable(lastLSN)
        try box.install(pages, pageBytes: pageBytes)
        tookInstall(appliedIndex: try kv.get(Self.appliedKey).flatMap(Self.index) ?? 0)
    }

    /// After the store's state was replaced by installed pages whose
    /// applied index is `applied`.
    func tookInstall(appliedIndex applied: UInt64) {
        // The reopened store's journal starts after the installed pages:
        // every batch it holds is durable.
        lastLSN = 0
        appliedIndex = applied
        snapshotsRestored += 1
    }

    /// Deletes the keys the image lacks, writes its pairs, then its index
    /// (last: a crash before leaves the old index, and the next start
    /// restores the image again).
    private func replace(with image: KVImage) throws(KeyValueError) {
        let wanted = Set(image.pairs.map { Self.userKey($0.key) })
        var batches: [[KeyValueOperation]] = []
        try kv.scan(from: [Self.userPrefix]) { k, _ in
            guard k.first == Self.userPrefix else { return false }
            if !wanted.contains(k) { batches.append([.delete(key: k)]) }
            return true
        }
        for pair in image.pairs { batches.append([.put(key: Self.userKey(pair.key), value: pair.value)]) }
        batches.append([.put(key: Self.appliedKey, value: Self.indexBytes(image.appliedIndex))])
        for result in kv.writeLazy(batches: batches) {
            lastLSN = max(lastLSN, try result.get())
        }
        try kv.waitUntilDurable(lastLSN)
        appliedIndex = image.appliedIndex
        snapshotsRestored += 1
    }

    /// The value of user key `key` in the durable state.
    func get(_ key: [UInt8]) throws(KeyValueError) -> [UInt8]? { try kv.get(Self.userKey(key)) }
}
