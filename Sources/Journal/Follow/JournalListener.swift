import JournalPrimitives
import Synchronization

// Listeners: handlers that the thread publishing a durable LSN calls with
// the records it made durable, so that no thread has to wake up between a
// record's durability and its delivery (followers sleep and are woken, and
// on a busy machine a woken thread waits its turn for a CPU).
//
// Delivery to one listener is serialized by a combining lock. A publisher
// raises the listener's target, then delivers through it if it takes the
// lock; if another thread holds the lock, the publisher leaves at once and
// the holder delivers for it: after it lets the lock go, the holder loads
// the target again and delivers on if it rose. Either the holder's load
// comes after the publisher's raise (and sees it), or the publisher's check
// comes after the holder let the lock go (and takes it itself): no
// publication is left undelivered (Tools/promela/listener.pml).
// Ending (close, failure, cancel) is a request the lock's holder carries
// out the same way, after the last record it delivers.

/// Why a listener ended, as its end handler is told.
enum ListenerEnd: Sendable {
    case closed
    case cancelled
    case failed(JournalError)
}

/// Records handed to a handler as they become durable: see
/// `Journal.listen(from:onRecord:onEnd:)`. `cancel()` stops it.
public final class JournalListener: @unchecked Sendable {
    // @unchecked: `next` and `cursor` belong to the holder of `delivering`;
    // `target`, `delivered`, `ending` and `finished` are atomic; `end` is
    // guarded by its own lock.
    /// The journal listened to.
    public let journal: Journal
    private let delivering = ConditionLock()
    /// The highest durable LSN published to this listener.
    private let target = Atomic<LSN>(0)
    /// The last LSN delivered (the first LSN less one before any).
    private let delivered: Atomic<LSN>
    /// An end was requested: the lock's holder carries it out.
    private let ending = Atomic<Bool>(false)
    /// The end handler was called: nothing more happens.
    private let finished = Atomic<Bool>(false)
    private let end = LockedValue<(reason: ListenerEnd, through: LSN)?>(nil)
    private var next: LSN
    private var cursor: FollowCursor?
    private let onRecord: @Sendable (LSN, UnsafeRawBufferPointer) -> Void
    private let onEnd: @Sendable (JournalError?) -> Void

    init(journal: Journal, from lsn: LSN, onRecord: @escaping @Sendable (LSN, UnsafeRawBufferPointer) -> Void,
         onEnd: @escaping @Sendable (JournalError?) -> Void) {
        assert(lsn >= 1, "LSNs start at 1")
        self.journal = journal
        self.next = lsn
        self.delivered = Atomic(lsn - 1)
        self.onRecord = onRecord
        self.onEnd = onEnd
    }

    /// The LSN of the next record the listener delivers. A snapshot: a
    /// delivery may be under way.
    public var nextLSN: LSN { delivered.load(ordering: .acquiring) + 1 }

    /// Stops the listener: no record is delivered after a delivery in
    /// progress returns from its current record, and the end handler is
    /// called with nil (once, after the last record). Any thread, the
    /// handler's own included.
    public func cancel() {
        journal.followers.removeListener(self)
        requestEnd(.cancelled, through: 0)
    }

    // MARK: From the hub

    /// The durable LSN is `lsn` or higher: delivers every record through it
    /// (or leaves that to the thread delivering now).
    func published(_ lsn: LSN) {
        raiseTarget(lsn)
        drain()
    }

    /// Ends the listener once every record through `lsn` was delivered.
    /// The target first: a holder that finds the request finds it too.
    func requestEnd(_ reason: ListenerEnd, through lsn: LSN) {
        raiseTarget(lsn)
        end.withLock { if $0 == nil { $0 = (reason, lsn) } }
        ending.store(true, ordering: .sequentiallyConsistent)
        drain()
    }

    private func raiseTarget(_ lsn: LSN) {
        var current = target.load(ordering: .sequentiallyConsistent)
        while current < lsn {
            let (exchanged, found) = target.compareExchange(expected: current, desired: lsn, ordering: .sequentiallyConsistent)
            if exchanged { return }
            current = found
        }
    }

    // MARK: Delivery

    /// Delivers while there is work and no other thread holds the lock.
    private func drain() {
        while hasWork(), delivering.tryLock() {
            deliverLocked()
            delivering.unlock()
        }
    }

    private func hasWork() -> Bool {
        guard !finished.load(ordering: .sequentiallyConsistent) else { return false }
        return ending.load(ordering: .sequentiallyConsistent)
            || target.load(ordering: .sequentiallyConsistent) > delivered.load(ordering: .sequentiallyConsistent)
    }

    /// Delivers through the target, then ends if asked. Lock held.
    private func deliverLocked() {
        guard !finished.load(ordering: .relaxed) else { return }
        // The request before the target (`requestEnd` raised the target
        // before it stored the request).
        let request = end.withLock { $0 }
        if case .cancelled? = request?.reason { return finishLocked(.cancelled) }
        if let failure = deliverRecordsLocked(through: target.load(ordering: .sequentiallyConsistent)) {
            return finishLocked(.failed(failure))
        }
        if let request { finishLocked(request.reason) }
    }

    /// Calls the end handler, once. Lock held.
    private func finishLocked(_ reason: ListenerEnd) {
        assert(!finished.load(ordering: .relaxed), "a listener ends once")
        finished.store(true, ordering: .sequentiallyConsistent)
        journal.followers.removeListener(self)
        switch reason {
        case .closed, .cancelled: journal.deliveringToListener { onEnd(nil) }
        case .failed(let error): journal.deliveringToListener { onEnd(error) }
        }
    }

    /// Hands the handler the records from `next` through `limit`. Returns
    /// the error that ends the listener, if any. Lock held.
    private func deliverRecordsLocked(through limit: LSN) -> JournalError? {
        guard next <= limit else { return nil }
        let first = next
        var position = next
        defer {
            next = position
            delivered.store(position - 1, ordering: .sequentiallyConsistent)
        }
        do {
            // One mark for the whole delivery, not one per record.
            _ = try journal.deliveringToListener {
                try journal.forEachFollowedRecord(from: first, through: limit, cursor: &cursor) { lsn, bytes in
                    // Only a gap salvage recovery skipped may separate two records.
                    guard lsn == position || lsn == journal.lsnPastGaps(position) else {
                        throw JournalError.lsnOutOfRange(requested: position, first: journal.oldestLSN, durable: limit)
                    }
                    onRecord(lsn, bytes)
                    position = lsn + 1
                    // A cancel (perhaps from `onRecord` itself) stops at once.
                    return !(ending.load(ordering: .relaxed) && isCancelRequested())
                }
            }
            // The writer of a followed journal may have released and reused
            // the file under the bytes just read (journal-format.md, section 11).
            try journal.tail?.checkNotReleased(first)
        } catch let error as JournalError {
            return error
        } catch {
            preconditionFailure("the delivering body throws only JournalError")
        }
        if position <= limit && !isCancelRequested() {
            // Durable records exist from `position` on, yet none was read.
            return .lsnOutOfRange(requested: position, first: journal.oldestLSN, durable: limit)
        }
        return nil
    }

    private func isCancelRequested() -> Bool {
        guard case .cancelled = end.withLock({ $0 })?.reason else { return false }
        return true
    }
}
