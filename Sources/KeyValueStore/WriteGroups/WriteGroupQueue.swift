import JournalPrimitives

/// The queue of requests waiting for a leader, and who leads.
final class WriteGroupQueue: @unchecked Sendable {
    // @unchecked: every field is used under `lock`.
    /// A group takes at most this many requests: bounds the time a leader
    /// works for others and the members woken at once.
    static let requestsMax = 256

    /// A pthread mutex: the sections are a few instructions, and waiters
    /// sleep in the kernel rather than spin on two cores.
    private let lock = ConditionLock()
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
    }

    private func locked<R>(_ body: () -> R) -> R {
        lock.withLock(body)
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
