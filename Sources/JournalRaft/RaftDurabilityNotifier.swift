public import Journal
import JournalPrimitives

// The durability hop for a journal that runs its own threads: raft's loop
// thread must not block on the disk, so a notifier thread waits for the
// durable LSN the loop asked for and wakes the loop, which then fires the
// completions (`JournalRaftIO.runCompletions()`) on its own thread.
//
// It waits for the oldest LSN asked for that is not durable yet, not the
// newest: under a steady load the newest is in the group commit still
// being gathered, and waiting for it would hold the completions of the
// group being written until the next one is durable too.

/// Wakes a raft loop when the journal's durable LSN reaches what it asked
/// for. Thread-safe; `wake` runs on the notifier's thread.
public final class RaftDurabilityNotifier: @unchecked Sendable {
    private let journal: Journal
    private let wake: @Sendable () -> Void
    private let lock = ConditionLock()
    private let changed: ConditionLock.Condition
    /// Guarded by `lock`: the LSNs asked for and not yet reported durable,
    /// in increasing order (from `first`), and whether to stop.
    private var requested: [LSN] = []
    private var first = 0
    private var stopping = false
    private var thread: JoinableThread?

    /// Starts the notifier thread for `journal` (open in the threads
    /// runtime); `wake` must make the loop call `runCompletions()` soon.
    public init(journal: Journal, wake: @escaping @Sendable () -> Void) {
        self.journal = journal
        self.wake = wake
        changed = ConditionLock.Condition(lock)
        thread = JoinableThread(name: "raft-durable") { [unowned self] in run() }
    }

    /// Asks to be woken once `lsn` is durable. From any thread.
    public func request(_ lsn: LSN) {
        lock.withLock {
            if first == requested.count || lsn > requested[requested.count - 1] {
                requested.append(lsn)
                changed.signal()
            }
        }
    }

    /// Stops and joins the thread; a wait in progress ends when the journal
    /// makes the LSN durable, fails or closes.
    public func stop() {
        lock.withLock {
            stopping = true
            changed.signal()
        }
        thread?.join()
        thread = nil
    }

    private func run() {
        var failed = false
        while true {
            lock.lock()
            while (failed || first == requested.count) && !stopping { changed.wait() }
            if stopping {
                lock.unlock()
                return
            }
            let target = requested[first]
            lock.unlock()
            do {
                try journal.waitUntilDurableBlocking(target)
            } catch {
                // The journal failed or closed: the loop learns it from the
                // journal; wake it once and wait for `stop()`.
                wake()
                failed = true
                continue
            }
            let durable = journal.durableLSN
            lock.withLock { reported(through: durable) }
            wake()
        }
    }

    /// Drops the LSNs asked for up to `durable`; with `lock` held.
    private func reported(through durable: LSN) {
        while first < requested.count && requested[first] <= durable { first += 1 }
        if first == requested.count || first > 1024 {
            requested.removeFirst(first)
            first = 0
        }
    }
}
