/// Gathers the commands proposed on one raft loop into batch entries
/// (`RaftCommandBatch`): commands submitted while `entriesInFlightMax`
/// entries of this batcher wait for raft, or within one turn of the loop,
/// go into one entry, up to `RaftCommandBatch.commandsMax` commands and
/// `bytesMax` bytes; a lone command goes as itself. Each submitter gets the
/// entry's outcome: success only once raft committed and applied the entry
/// holding its command. The replicated service and the simulated cluster
/// both propose through this.
///
/// Not thread-safe: used on the raft loop only.
public final class RaftCommandBatcher {
    /// Raft's status and the entry's index. Index 0 with a non-zero status:
    /// the command never entered the log (raft refused the entry at once,
    /// or the batcher was closed first).
    public typealias Completion = (_ status: Int32, _ index: UInt64) -> Void
    /// Proposes one entry's payload; returns raft's error code when it is
    /// refused at once, otherwise runs the completion later, once.
    public typealias Propose = (_ payload: [UInt8], _ complete: @escaping Completion) -> Int32

    /// Most entries of this batcher waiting for raft at once.
    public let entriesInFlightMax: Int
    /// Most bytes of a batch entry's payload.
    public let bytesMax: Int
    private let propose: Propose
    /// Asked (once until `flush` runs) to call `flush` later in this turn of
    /// the loop, after the requests that arrived with this one.
    public var scheduleFlush: () -> Void = {}
    private var flushScheduled = false
    private var pending: [(command: [UInt8], complete: Completion)] = []
    public private(set) var entriesInFlight = 0
    /// Entries proposed, and those of them that carried several commands.
    public private(set) var entriesProposed = 0
    public private(set) var batchEntriesProposed = 0

    public init(entriesInFlightMax: Int = 1, bytesMax: Int = RaftCommandBatch.bytesMax, propose: @escaping Propose) {
        precondition(entriesInFlightMax >= 1 && bytesMax > RaftCommandBatch.headerBytes)
        self.entriesInFlightMax = entriesInFlightMax
        self.bytesMax = bytesMax
        self.propose = propose
    }

    /// Commands waiting to be proposed.
    public var pendingCount: Int { pending.count }

    /// Queues `command` (non-empty, not a batch) for the next entry.
    public func submit(_ command: [UInt8], _ complete: @escaping Completion) {
        pending.append((command, complete))
        requestFlush()
    }

    /// Proposes what waits, as entries allow.
    public func flush() {
        flushScheduled = false
        while !pending.isEmpty && entriesInFlight < entriesInFlightMax { proposeNext() }
    }

    /// Fails every command not yet proposed with `status` (raft is closing).
    public func failPending(_ status: Int32) {
        let failed = pending
        pending = []
        for command in failed { command.complete(status, 0) }
    }

    private func requestFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        scheduleFlush()
    }

    /// Proposes the longest prefix of the pending commands within the
    /// bounds (at least one command) as one entry.
    private func proposeNext() {
        var count = 0
        var bytes = RaftCommandBatch.headerBytes
        while count < pending.count && count < RaftCommandBatch.commandsMax {
            let more = RaftCommandBatch.lengthBytes + pending[count].command.count
            if count > 0 && bytes + more > bytesMax { break }
            bytes += more
            count += 1
        }
        let taken = Array(pending.prefix(count))
        pending.removeFirst(count)
        let payload = count == 1 ? taken[0].command : RaftCommandBatch.encode(taken.map(\.command))
        entriesInFlight += 1
        let rv = propose(payload) { [weak self] status, index in
            for command in taken { command.complete(status, index) }
            guard let self else { return }
            entriesInFlight -= 1
            if !pending.isEmpty { requestFlush() }
        }
        if rv != 0 {
            entriesInFlight -= 1
            for command in taken { command.complete(rv, 0) }
            return
        }
        entriesProposed += 1
        if count > 1 { batchEntriesProposed += 1 }
    }
}
