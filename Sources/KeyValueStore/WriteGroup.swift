internal import CJournalShims
import Journal
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Write groups: how concurrent writers share one page-store transaction.
//
// A writer queues its batch (a `WriteRequest`) and either becomes the
// leader (nobody leads) or parks. The leader takes the queued requests, up
// to `WriteQueue.requestsMax`, applies them in queue order to the tree in
// as few page-store transactions as the page budget allows (usually one:
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
// result (see `KeyValueStore.lead`).
//
// Writers are threads (the blocking API) or tasks (the async API), mixed
// freely in one group. A thread parks on a futex; a task suspends on a
// continuation that the waker resumes, so a task member costs a resume,
// not an OS sleep and wake, and no cooperative thread is held. A task that
// leads applies the group on its own thread (CPU work) and suspends on the
// page store's async durability wait.

/// A writer's batch, queued for a write group.
final class WriteRequest: @unchecked Sendable {
    // @unchecked: `leads` is written under the queue's lock; `outcome` and
    // `removed` by the leader before it unparks the writer (the park's
    // acquire, or the resume lock's, pairs with the unpark's release), and
    // read by the writer after.
    let operations: [KeyValueOperation]
    /// The writer is a task: it suspends (`suspend`) rather than parks.
    let isTask: Bool
    /// The writer returns once the batch is durable (else once committed
    /// lazily).
    let durable: Bool
    /// Set by the leader: the LSN of the transaction that holds the batch
    /// (durable if `durable`) and the keys its deletes removed, or its error.
    var outcome: Result<(lsn: LSN, removed: Int), KeyValueError>?
    /// The queue handed this request's writer the leadership.
    var leads = false
    /// Keys removed by this batch's deletes in the chunk being applied.
    var removed = 0
    /// A thread's futex word (`park`).
    private let state: UnsafeMutablePointer<UInt32>
    /// A task's wake: woken before it suspended, or its continuation.
    private let taskWake = Mutex<TaskWake>(.idle)

    enum TaskWake {
        case idle
        case suspended(UnsafeContinuation<Void, Never>)
        case woken
    }

    init(_ operations: [KeyValueOperation], durable: Bool, isTask: Bool = false) {
        self.operations = operations
        self.durable = durable
        self.isTask = isTask
        state = .allocate(capacity: 1)
        state.initialize(to: 0)
    }

    deinit { state.deallocate() }

    /// A thread's writer: blocks until `unpark` (at once if it came first).
    /// Once per request.
    func park() {
        assert(!isTask, "a task suspends")
        cjournal_park(state)
    }

    /// A task's writer: suspends until `unpark` (resumes at once if it came
    /// first). Once per request.
    func suspend() async {
        assert(isTask, "a thread parks")
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let wokenAlready = taskWake.withLock { wake -> Bool in
                switch wake {
                case .idle:
                    wake = .suspended(continuation)
                    return false
                case .woken:
                    return true
                case .suspended:
                    preconditionFailure("a request suspends once")
                }
            }
            if wokenAlready { continuation.resume() }
        }
    }

    /// Wakes the writer: its outcome is set, or it leads. Once per request.
    func unpark() {
        guard isTask else { return cjournal_unpark(state) }
        let continuation = taskWake.withLock { wake -> UnsafeContinuation<Void, Never>? in
            switch wake {
            case .idle:
                wake = .woken
                return nil
            case .suspended(let continuation):
                wake = .woken
                return continuation
            case .woken:
                preconditionFailure("a request is woken once")
            }
        }
        continuation?.resume()
    }
}

/// The queue of requests waiting for a leader, and who leads.
final class WriteQueue: @unchecked Sendable {
    // @unchecked: every field is used under `mutex`.
    /// A group takes at most this many requests: bounds the time a leader
    /// works for others and the members woken at once.
    static let requestsMax = 256

    /// A pthread mutex: the sections are a few instructions, and waiters
    /// sleep in the kernel rather than spin on two cores.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var waiting: [WriteRequest] = []
    private var head = 0
    private var leaderActive = false
    /// Groups committed whose leaders wait for their durability.
    private var inFlight = 0
    /// While this many groups await durability, no new group starts: the
    /// requests gather into one bigger group instead (group commit at the
    /// store's layer; the journal still overlaps the writes of the groups
    /// in flight).
    let inFlightMax: Int

    init(inFlightMax: Int) {
        assert(inFlightMax >= 1)
        self.inFlightMax = inFlightMax

        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Queues `requests` one after the other; returns true if the writer
    /// leads now with the first (nobody leads, and fewer than `inFlightMax`
    /// groups await durability).
    func enqueue(_ requests: [WriteRequest]) -> Bool {
        locked {
            assert(!requests.isEmpty)
            let wasEmpty = head == waiting.count
            waiting.append(contentsOf: requests)
            guard !leaderActive && inFlight < inFlightMax else { return false }
            assert(wasEmpty, "requests queue only while a leader works or groups are in flight")
            leaderActive = true
            requests[0].leads = true
            return true
        }
    }

    /// Requests queued and not yet taken by a leader.
    var queuedCount: Int { locked { waiting.count - head } }

    /// The leader takes the oldest queued requests (its own first).
    func takeGroup(leader: WriteRequest) -> [WriteRequest] {
        locked {
            assert(leaderActive && leader.leads, "only the leader takes a group")
            assert(head < waiting.count && waiting[head] === leader, "the leader's request is the oldest queued")
            let end = min(waiting.count, head + Self.requestsMax)
            let group = Array(waiting[head..<end])
            head = end
            if head == waiting.count {
                waiting.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 1024 && head * 2 > waiting.count {
                waiting.removeFirst(head)
                head = 0
            }
            return group
        }
    }

    /// The leader is done applying; `awaitsDurability`: it now waits for
    /// its group's durability (and then calls `finishWaiting`). Returns the
    /// request whose writer leads next (the caller unparks it), or nil.
    func finishLeading(awaitsDurability: Bool) -> WriteRequest? {
        locked {
            assert(leaderActive)
            leaderActive = false
            if awaitsDurability { inFlight += 1 }
            return nextLeader()
        }
    }

    /// A leader's group is durable (or failed to be): returns the request
    /// whose writer leads next (the caller unparks it), or nil.
    func finishWaiting() -> WriteRequest? {
        locked {
            assert(inFlight > 0)
            inFlight -= 1
            return nextLeader()
        }
    }

    /// Lock held: makes the oldest queued request lead, if nobody leads and
    /// the in-flight bound allows.
    private func nextLeader() -> WriteRequest? {
        guard !leaderActive, inFlight < inFlightMax, head < waiting.count else { return nil }
        let next = waiting[head]
        assert(!next.leads && next.outcome == nil, "a queued request is neither leading nor done")
        leaderActive = true
        next.leads = true
        return next
    }
}

/// Counters of committed write-group transactions.
final class GroupCounters: Sendable {
    let transactions = Atomic<Int>(0)
    let batches = Atomic<Int>(0)
    /// Chunks of several requests that failed and were applied one by one.
    let failedChunks = Atomic<Int>(0)
}
