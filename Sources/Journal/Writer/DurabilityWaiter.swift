import JournalPrimitives

// Durability waiters: appenders (tasks or threads) parked until the durable
// LSN reaches their record. The writer wakes exactly those whose LSN it
// passed, rather than every waiter on a shared condition.

/// Someone waiting for an LSN to become durable.
enum DurabilityWaiter {
    /// Resumed with nil once durable, or with why the wait ended.
    case task(UnsafeContinuation<JournalError?, Never>)
    case thread(Parker)

    /// The LSN is durable. A thread re-checks the durable LSN when it wakes.
    func wake() {
        switch self {
        case .task(let c): c.resume(returning: nil)
        case .thread(let p): p.unpark()
        }
    }

    /// The wait ends without durability. A thread finds the reason under the lock.
    func fail(_ error: JournalError) {
        switch self {
        case .task(let c): c.resume(returning: error)
        case .thread(let p): p.unpark()
        }
    }
}

/// What a publication of the durable LSN leaves to do once the journal's
/// lock is let go: the followers' hub to tell, and the appenders to wake.
/// Nothing is woken under the journal's lock (Tools/promela/followhub.pml).
struct DurablePublication {
    var waiters: [DurabilityWaiter] = []
    /// The durable LSN stored, if the publication raised it.
    var lsn: LSN?

    /// Wakes the followers, then the appenders. The journal's lock is not
    /// held. Followers first: woken after up to 64 appenders, a follower
    /// would queue for a CPU behind all of them, and its lag would be their
    /// run time; the appenders wait a few wake-ups longer.
    func wake(_ followers: FollowerHub) {
        if let lsn { followers.published(lsn) }
        for w in waiters { w.wake() }
    }
}

extension Journal {
    /// Publishes `lsn` as the durable LSN if it is higher, and removes the
    /// waiters it satisfies. The caller wakes them, and tells the followers,
    /// once it lets the lock go (`DurablePublication.wake`). Lock held.
    func publishDurableLocked(_ lsn: LSN) -> DurablePublication {
        guard lsn > durable.load(ordering: .relaxed) else { return DurablePublication() }
        followers.storeDurableLocked(lsn)  // the follow file first: acknowledgements follow `durable`
        durable.store(lsn, ordering: .releasing)
        guard !durableWaiters.isEmpty else { return DurablePublication(lsn: lsn) }
        var ready: [DurabilityWaiter] = []
        var kept = 0
        for i in durableWaiters.indices {
            if durableWaiters[i].lsn <= lsn {
                ready.append(durableWaiters[i].waiter)
            } else {
                durableWaiters.swapAt(kept, i)
                kept += 1
            }
        }
        durableWaiters.removeLast(durableWaiters.count - kept)
        return DurablePublication(waiters: ready, lsn: lsn)
    }

    /// Takes every waiter of both kinds, to fail or resume them after the
    /// lock is let go (poison, close). Lock held.
    func takeAllWaitersLocked() -> (durable: [DurabilityWaiter], space: [UnsafeContinuation<Void, Never>]) {
        let waiters = durableWaiters.map(\.waiter)
        durableWaiters.removeAll()
        let space = spaceWaiters
        spaceWaiters.removeAll()
        return (waiters, space)
    }
}
