import Journal
import PageStore
import Synchronization

// Write groups: how concurrent writers share one page-store transaction.
//
// A writer queues its batch (a `WriteRequest`) and either becomes the
// leader (nobody leads) or parks. The leader takes the queued requests, up
// to `WriteGroupQueue.requestsMax`, applies them in queue order to the tree
// in as few page-store transactions as the page budget allows (usually one:
// one journal record, the meta page and shared leaves written once for the
// whole group), commits lazily, publishes, and hands the leadership to the
// oldest request still queued. It wakes the members that asked for a lazy
// write at once; it waits for the transaction's durability itself and then
// wakes the rest. So while the disk writes one group, the next one gathers
// and commits; the CPU cost of a transaction (snapshot, record encoding,
// table update, meta page) is paid once per group rather than once per put;
// and a member sleeps and wakes once per put, with one waiter per group on
// the journal. On two cores, sleeps and wakes are what a put costs most.
//
// Each batch stays all or nothing: a group is a bigger atom made of whole
// batches in queue order, and a crash keeps a prefix of the journal's
// records, so a prefix of the batches. A batch whose operations fail (the
// store is full, a corrupt page) or a group too large for one journal
// record must not fail its neighbours: the chunk that failed is aborted and
// its members are applied again one by one, each getting exactly its own
// result (see `apply(_:)` below).
//
// Writers are threads (the blocking API) or tasks (the async API), mixed
// freely in one group. A thread parks on a futex; a task suspends on a
// continuation that the waker resumes, so a task member costs a resume,
// not an OS sleep and wake, and no cooperative thread is held. A task that
// leads applies the group on its own thread (CPU work) and suspends on the
// page store's async durability wait.
//
// The requests (WriteRequest.swift) wait in a `WriteGroupQueue`
// (WriteGroupQueue.swift), which says who leads; this file holds what the
// leader does.

extension KeyValueStore {
    /// Leads one write group (`leader` is the oldest queued request): applies
    /// the group, hands the leadership on, wakes the lazy members at once,
    /// waits for the group's durability, then wakes the others. So a member
    /// sleeps once per batch, and only the leader waits on the journal.
    func lead(_ leader: WriteRequest) {
        guard let (group, durableLSN) = applyGroup(leader, from: .thread) else { return }
        var failure: PageStoreError?
        do throws(PageStoreError) { try pageStore.waitUntilDurable(durableLSN) } catch { failure = error }
        finishGroup(group, leader: leader, failure: failure)
    }

    /// As `lead`, for a task: suspends (holds no thread) while the group's
    /// record is being written.
    func lead(_ leader: WriteRequest) async {
        guard let (group, durableLSN) = applyGroup(leader, from: .task) else { return }
        var failure: PageStoreError?
        do throws(PageStoreError) { try await pageStore.waitUntilDurable(durableLSN) } catch { failure = error }
        finishGroup(group, leader: leader, failure: failure)
    }

    /// The leader's first half: takes and applies the group, hands the
    /// leadership on, wakes the lazy members. Returns the group and the LSN
    /// its durable members wait for, or nil when none does (all are woken).
    ///
    /// A lone durable request (its writer the only one inside the store's
    /// write path) commits with an inline write (`writer`'s rule): when the
    /// journal is idle, its record is written from this thread, and the
    /// durability wait that follows returns at once; no I/O thread or
    /// waiter is woken for the put. With other writers about, the leader
    /// commits lazily and hands on, so that the next group gathers while
    /// this one's record is written. (An empty queue is not enough: tasks
    /// on a small pool may not have run yet to queue, and an inline write
    /// holding a pool thread would keep them from it, group after group.)
    func applyGroup(_ leader: WriteRequest, from writer: InlineWriter) -> (group: [WriteRequest], durableLSN: LSN)? {
        beforeGroupHook?()
        let group = queue.takeGroup(leader: leader)
        let lone = group.count == 1 && leader.durable && groupCounters.writersInside.load(ordering: .relaxed) == 1
        apply(group, inline: lone ? writer : nil)
        var durableLSN: LSN?
        for member in group where member.durable {
            if case .success(let (lsn, _)) = member.outcome { durableLSN = max(durableLSN ?? lsn, lsn) }
        }
        // The next group gathers (and commits, within the in-flight bound)
        // while this one's record is being written.
        queue.finishLeading(awaitsDurability: durableLSN != nil)?.unpark()
        for member in group where !member.durable && member !== leader {
            assert(member.outcome != nil, "every member has its outcome before it wakes")
            member.unpark()
        }
        guard let durableLSN else { return nil }
        return (group, durableLSN)
    }

    /// The leader's second half, once the group's durability wait returned
    /// (durability is a prefix: the newest LSN covers the group) or failed
    /// with `failure`: sets the durable members' outcomes, hands the
    /// leadership on, wakes them.
    func finishGroup(_ group: [WriteRequest], leader: WriteRequest, failure: PageStoreError?) {
        if let failure {
            for member in group where member.durable {
                if case .success = member.outcome { member.outcome = .failure(.store(failure)) }
            }
        }
        queue.finishWaiting()?.unpark()
        for member in group where member.durable && member !== leader {
            assert(member.outcome != nil, "every member has its outcome before it wakes")
            member.unpark()
        }
    }

    /// Sets the outcome of every request of `group`, in order: chunks of
    /// requests applied together in one transaction each (a chunk ends once
    /// its dirty pages reach `groupPagesMax`); a chunk that fails is applied
    /// again one request per transaction, so each gets its own result.
    func apply(_ group: [WriteRequest], inline: InlineWriter? = nil) {
        var start = 0
        while start < group.count {
            let (end, result) = applyChunk(group, from: start, inline: inline)
            assert(end > start && end <= group.count, "a chunk takes at least one request")
            switch result {
            case .success(let lsn):
                for r in group[start..<end] { r.outcome = .success((lsn, r.removed)) }
            case .failure(let error) where end - start == 1:
                group[start].outcome = .failure(error)
            case .failure:
                groupCounters.failedChunks.add(1, ordering: .relaxed)
                for r in group[start..<end] {
                    let alone = applyChunk([r], from: 0)
                    assert(alone.end == 1)
                    r.outcome = alone.result.map { ($0, r.removed) }
                }
            }
            start = end
        }
    }

    /// Pages a chunk may dirty before it takes no further request: half a
    /// journal record, so a request that dirties a few pages more still
    /// fits (one that does not makes the chunk fail and run one by one).
    private var groupPagesMax: Int {
        max(1, pageStore.transactionPagesMax / 2)
    }

    /// Applies requests from `start` on in one transaction, while its dirty
    /// pages stay under `groupPagesMax`, and commits it lazily. Returns the
    /// end of the chunk (a request that failed is its last) and the LSN or
    /// the error; on error nothing was committed or published.
    func applyChunk(_ group: [WriteRequest], from start: Int, inline: InlineWriter? = nil) -> (end: Int, result: Result<LSN, KeyValueError>) {
        let tx: WriteTransaction
        do throws(PageStoreError) { tx = try pageStore.beginWrite() } catch { return (start + 1, .failure(.store(error))) }
        var tree = TreeWriter(tx: tx, pageBytes: pageBytes, cache: nodeCache)
        var end = start
        do throws(KeyValueError) {
            try tree.loadMeta()
            let pagesMax = groupPagesMax
            while end < group.count && (end == start || tree.dirty.count + 1 < pagesMax) {
                let request = group[end]
                end += 1
                request.removed = 0
                for op in request.operations {
                    switch op {
                    case .put(let k, let v): try tree.put(k, v)
                    case .delete(let k): if try tree.delete(k) { request.removed += 1 }
                    }
                }
            }
            try tree.flush()
        } catch {
            tx.abort()
            // A failure before the first request (loading the meta page)
            // still consumes it: the caller moves on, never loops.
            return (max(end, start + 1), .failure(error))
        }
        let lsn: LSN
        do throws(PageStoreError) { lsn = try tx.commitLazy(writingInlineFrom: inline) } catch { return (end, .failure(.store(error))) }
        // Published: the next transaction reads these.
        nodeCache.publish(tree.dirty, meta: tree.meta)
        groupCounters.transactions.add(1, ordering: .relaxed)
        groupCounters.batches.add(end - start, ordering: .relaxed)
        return (end, .success(lsn))
    }
}

/// Counters of committed write-group transactions.
final class GroupCounters: Sendable {
    let transactions = Atomic<Int>(0)
    let batches = Atomic<Int>(0)
    /// Chunks of several requests that failed and were applied one by one.
    let failedChunks = Atomic<Int>(0)
    /// Writers (threads or tasks) between queueing their batches and
    /// getting their outcomes: 1 when a leader's writer is alone.
    let writersInside = Atomic<Int>(0)
}
