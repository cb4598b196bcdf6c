public import Journal
import JournalPrimitives

// The durability hop for a journal that runs its own threads: raft's loop
// thread must not block on the disk, so a notifier thread waits for the
// durable LSN the loop asked for and wakes the loop, which then fires the
// completions (`JournalRaftIO.runCompletions()`) on its own thread.

/// Wakes a raft loop when the journal's durable LSN reaches what it asked
/// for. Thread-safe; `wake` runs on the notifier's thread.
public final class RaftDurabilityNotifier: @unchecked Sendable {
    private let journal: Journal
    private let wake: @Sendable () -> Void
    private let lock = ConditionLock()
    private let changed: ConditionLock.Condition
    /// Guarded by `lock`: the highest LSN asked for, and whether to stop.
    private var requested: LSN = 0
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
            if lsn > requested {
                requested = lsn
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
        var notified: LSN = 0
        while true {
            lock.lock()
            while requested <= notified && !stopping { changed.wait() }
            let target = requested
            let stop = stopping
            lock.unlock()
            if stop { return }
            do {
                try journal.waitUntilDurableBlocking(target)
            } catch {
                // The journal failed or closed: the loop learns it from the
                // journal; wake it once and wait for `stop()`.
                wake()
                notified = LSN.max
                continue
            }
            notified = target
            wake()
        }
    }
}
