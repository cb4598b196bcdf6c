import Journal
import JournalPrimitives

/// `bench follow --listen`: the followers are listeners (`Journal.listen`),
/// which the publishing thread hands each record with no wake-up, in the
/// writer's process on the thread that completed the write, in the child
/// on its journal's tail thread.
final class ListenedThrough: @unchecked Sendable {
    // @unchecked: `reached` and `ended` are guarded by `lock`.
    private let lock = ConditionLock()
    private let changed: ConditionLock.Condition
    private var reached: LSN = 0
    private var ended = false
    private let last: LSN

    /// A listener of `journal` from LSN 1 that notes each delivery time in
    /// `times`, until `last`.
    init(_ journal: Journal, last: LSN, times: TimesByLSN) throws {
        self.last = last
        changed = ConditionLock.Condition(lock)
        try journal.listen(from: 1, onRecord: { [self] lsn, _ in
            guard lsn <= last else { return }
            times.note(lsn, at: monotonicNanos())
            if lsn == last { lock.withLock { reached = lsn; changed.broadcast() } }
        }, onEnd: { [self] _ in
            lock.withLock { ended = true; changed.broadcast() }
        })
    }

    /// Blocks until the listener delivered `last` (or ended first); throws
    /// if it ended without it.
    func wait() throws {
        let got = lock.withLock { () -> LSN in
            while reached < last && !ended { changed.wait() }
            return reached
        }
        guard got == last else { throw BenchError("follow: a listener ended before LSN \(last)") }
    }
}
