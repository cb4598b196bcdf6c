public import CRaft
public import Journal

// Canonical raft's `struct raft_io` on the raft log store.
//
// Raft calls every method, and requires every callback, on one thread: the
// loop that owns this object. Nothing here starts a thread. The loop calls
// `runCompletions()` whenever it wakes: completions whose records the
// journal reports durable (`journal.durableLSN`) fire there, in order, as do
// the deferred callbacks of sends and snapshot reads, so that durability
// completions hop onto the raft thread rather than firing on the journal's.
// With the journal in manual runtime the loop also pumps the journal; with
// its threads the journal makes progress alone and the loop polls.

/// Time, randomness and the network of one raft node, supplied by its loop
/// (a simulation or the real transport).
public protocol RaftEnvironment: AnyObject {
    /// Milliseconds on the node's clock.
    var nowMilliseconds: UInt64 { get }
    /// A random integer in `min...max`.
    func random(min: Int32, max: Int32) -> Int32
    /// Sends an encoded message to server `to`; delivery is the network's
    /// business (it may lose or reorder it, and must drop a message to an
    /// id it does not know). The address raft gives is not passed on:
    /// canonical raft 0.15 may read it from the wrong member of a union
    /// (a follower that became candidate while installing a snapshot), so
    /// the transport finds peers by id.
    func send(from: UInt64, to: UInt64, bytes: [UInt8])
}

public final class JournalRaftIO {
    /// The raft log store on the journal.
    public let store: RaftLogStore
    /// The `struct raft_io` to hand to `raft_init`; valid until this object
    /// goes away (after `raft_close` has completed).
    public let io: UnsafeMutablePointer<raft_io>
    let environment: any RaftEnvironment

    var serverID: UInt64 = 0
    var serverAddress = ""
    var tickIntervalMilliseconds: UInt64 = 0
    var lastTickMilliseconds: UInt64 = 0
    var tickCallback: raft_io_tick_cb?
    var receiveCallback: raft_io_recv_cb?
    /// Callbacks to fire on the loop, in order.
    var deferred: [() -> Void] = []
    /// Completions waiting for a durable LSN, in LSN order; `match` is the
    /// index an append answering a leader is known to match it through.
    var durableWaits: [(lsn: LSN, match: UInt64?, complete: (Int32) -> Void)] = []
    /// While raft handles an AppendEntries (or completes the append it
    /// caused): the last index its log is known to share with the leader's,
    /// `prevLogIndex` + the entries sent. See `send`.
    var answeringMatch: UInt64?
    /// A failure of the journal: every later completion reports it.
    var failure: RaftLogError?
    /// The error that stopped this node (a failed or refused write, a full
    /// disk, a journal failure), for the loop to report; nil while healthy.
    public var stopError: RaftLogError? { failure }
    /// The last error the store reported to raft (raft keeps only its code
    /// and message).
    public private(set) var lastError: RaftLogError?
    /// Called on the loop with the LSN a new completion waits for: a loop
    /// whose journal runs its own threads passes it to a
    /// `RaftDurabilityNotifier`; one that pumps a manual journal needs none.
    public var durabilityRequested: ((LSN) -> Void)?
    /// Runs work that must not hold up the loop (raft's async work, which
    /// takes the state machine's snapshot; snapshot files): it is given a
    /// job, runs it on another thread, then wakes the loop so that it calls
    /// `runCompletions()`, where the job's completion fires. Nil: the job
    /// runs on the loop as a deferred callback (a deterministic simulation).
    public var offLoopRunner: ((@escaping @Sendable () -> Void) -> Void)?
    /// Installs snapshots from the leader off the loop (nil: raft's restore
    /// does it on the loop).
    public weak var snapshotInstaller: (any RaftSnapshotInstaller)?
    /// Jobs off the loop whose completion has not fired, in submission order.
    var offLoopJobs: [OffLoopJob] = []
    /// Snapshot files being read off the loop (`snapshot_get`), by name,
    /// with their count of reads: compaction leaves them in place.
    var snapshotFilesInUse: [String: Int] = [:]
    /// The raft instance this I/O serves, set once `raft_init` has run and
    /// cleared before it goes: after a snapshot is installed the I/O
    /// corrects what canonical raft 0.15 leaves stale
    /// (`JournalRaftIO+Snapshots.swift`).
    public var raft: UnsafeMutablePointer<raft>?
    var isClosed = false
    /// A copy of raft's committed configuration and its index, for a
    /// rollback raft 0.15 cannot do (JournalRaftIO+Rollback.swift).
    var committedConfiguration: (index: UInt64, servers: [RaftServer])?

    /// An I/O on `store`; `environment` is held strongly.
    public init(store: RaftLogStore, environment: any RaftEnvironment) {
        self.store = store
        self.environment = environment
        io = .allocate(capacity: 1)
        io.initialize(to: raft_io())
        io.pointee.version = 2
        io.pointee.impl = Unmanaged.passUnretained(self).toOpaque()
        Self.installMethods(io)
    }

    deinit {
        io.deinitialize(count: 1)
        io.deallocate()
    }

    static func from(_ io: UnsafeMutablePointer<raft_io>?) -> JournalRaftIO {
        guard let impl = io?.pointee.impl else { preconditionFailure("raft called an I/O without its implementation") }
        return Unmanaged<JournalRaftIO>.fromOpaque(impl).takeUnretainedValue()
    }

    // MARK: The loop's side

    /// Whether raft has started this I/O (set the tick and receive callbacks).
    public var isStarted: Bool { tickCallback != nil }

    /// When the next tick is due, on the environment's clock.
    public var nextTickMilliseconds: UInt64 { lastTickMilliseconds + tickIntervalMilliseconds }

    /// Fires raft's tick when its interval has elapsed.
    public func tickIfDue() {
        guard let tickCallback, !isClosed, environment.nowMilliseconds >= nextTickMilliseconds else { return }
        lastTickMilliseconds = environment.nowMilliseconds
        tickCallback(io)
    }

    /// Hands a received message to raft. Bytes that do not decode are
    /// dropped (a faulty peer must not crash this one).
    @discardableResult
    public func deliver(_ bytes: [UInt8]) -> Bool {
        guard let receiveCallback, !isClosed, var decoded = RaftMessageCodec.decode(bytes) else { return false }
        defer { decoded.release() }
        noteCommittedConfiguration()
        if decoded.message.type == UInt16(RAFT_IO_APPEND_ENTRIES) {
            skipEntriesTheSnapshotCovers(&decoded.message.append_entries)
            let a = decoded.message.append_entries
            answeringMatch = a.prev_log_index + UInt64(a.n_entries)
            rollBackIfRaftCannot(a)
        }
        defer { answeringMatch = nil }
        receiveCallback(io, &decoded.message)
        noteCommittedConfiguration()
        return true
    }

    /// Canonical raft 0.15 rejects an AppendEntries whose prevLogIndex lies
    /// in the part of its log a snapshot replaced (it cannot read that
    /// entry's term), although what a snapshot covers is committed and so
    /// the same on every server. A leader whose view of this follower went
    /// back past the snapshot (answers reordered) then probes lower and
    /// lower, sends its own older snapshot, and starts again: the follower
    /// never catches up. The request is made to start at the snapshot
    /// instead: the entries it covers are dropped, and prevLogIndex and
    /// prevLogTerm become the snapshot's.
    func skipEntriesTheSnapshotCovers(_ a: inout raft_append_entries) {
        let s = store.snapshotIndex
        guard s > 0, a.prev_log_index < s else { return }
        let covered = Int(min(s - a.prev_log_index, UInt64(a.n_entries)))
        a.entries = RaftMemory.dropFirst(covered, of: a.entries, total: Int(a.n_entries))
        a.n_entries -= UInt32(covered)
        a.prev_log_index = s
        a.prev_log_term = store.snapshotTerm
    }

    /// Whether the journal failed: the loop must close raft.
    public var hasFailed: Bool { failure != nil }

    /// Reports that the journal failed (a loop that pumps a journal in
    /// manual runtime learns it there): later appends fail with it, and
    /// pending ones are cancelled at close.
    public func journalFailed(_ error: JournalError) {
        if failure == nil { failure = .from(error) }
    }

    /// Fires the completions that are ready: durable appends and snapshot
    /// puts, jobs run off the loop, then deferred callbacks, until none is left. After a journal
    /// failure the appends that did not become durable stay pending until
    /// `raft_close` cancels them: failing them while raft runs would make a
    /// leader look up its pending requests by index, which canonical raft
    /// 0.15 gets wrong for barriers. A loop that sees `hasFailed` closes raft
    /// (the journal must be reopened anyway).
    public func runCompletions() {
        defer { noteCommittedConfiguration() }
        while true {
            completeDurableWaits()
            completeOffLoopJobs()
            if deferred.isEmpty { return }
            let callbacks = deferred
            deferred.removeAll()
            for callback in callbacks { callback() }
        }
    }

    /// Completes, in order, the waits whose LSN is durable.
    func completeDurableWaits() {
        let durable = store.journal.durableLSN
        let count = durableWaits.prefix { $0.lsn <= durable }.count
        let ready = durableWaits.prefix(count)
        durableWaits.removeFirst(count)
        for wait in ready { complete(wait, 0) }
    }

    /// Fires one completion, with the match index of the append it ends.
    func complete(_ wait: (lsn: LSN, match: UInt64?, complete: (Int32) -> Void), _ status: Int32) {
        answeringMatch = wait.match
        defer { answeringMatch = nil }
        wait.complete(status)
    }

    /// Completes the durable waits, then fails the others newest first:
    /// raft truncates its in-memory log from a failed append's first index,
    /// so an older failure must come after the newer ones it removes.
    func failWaits(_ status: Int32) {
        completeDurableWaits()
        let failed = durableWaits.reversed()
        durableWaits.removeAll()
        for wait in failed { complete(wait, status) }
    }

    /// Whether completions are waiting for the journal.
    public var hasPendingDurability: Bool { !durableWaits.isEmpty }

    /// Raft's error code for a store error, with its message in `errmsg`.
    static func code(_ error: RaftLogError) -> Int32 {
        switch error {
        case .malformedRecord, .inconsistentLog, .damagedSnapshot: RAFT_CORRUPT
        case .notPristine: RAFT_CANTBOOTSTRAP
        case .journal(.journalFull), .noSpace: RAFT_NOSPACE
        case .journal, .storage: RAFT_IOERR
        case .wrongCluster, .wrongServer: RAFT_INVALID
        }
    }

    /// Records a failed write: the store cannot be trusted to hold what raft
    /// believes (or the disk is full), so the node stops (`hasFailed`).
    func failWrite(_ error: RaftLogError) -> Int32 {
        if failure == nil { failure = error }
        return fail(error)
    }

    /// Records `error` as raft's error message and returns its code.
    func fail(_ error: RaftLogError) -> Int32 {
        lastError = error
        let text = Array(error.description.utf8.prefix(Int(RAFT_ERRMSG_BUF_SIZE) - 1)) + [0]
        withUnsafeMutableBytes(of: &io.pointee.errmsg) { dst in
            text.withUnsafeBytes { dst.copyMemory(from: $0) }
        }
        return Self.code(error)
    }
}
