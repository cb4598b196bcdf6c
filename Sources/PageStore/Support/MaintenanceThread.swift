import JournalPrimitives

/// A thread that sleeps until `request()` and then runs `work` once (several
/// requests while it works fold into one more run).
final class MaintenanceThread: @unchecked Sendable {
    // @unchecked: `requested` and `stopping` are guarded by `lock`; `thread`
    // is set once by init and read by `stop`, which one caller runs.
    private let lock = ConditionLock()
    private let wake: ConditionLock.Condition
    private var requested = false
    private var stopping = false
    private var thread: JoinableThread?
    private var joined = false
    private let work: @Sendable () -> Void

    init(work: @escaping @Sendable () -> Void) {
        self.work = work
        wake = ConditionLock.Condition(lock)
        // The thread holds the object until `loop` returns, as the object
        // holds the thread until `stop` joins it.
        thread = JoinableThread(name: "store-maint") { [self] in loop() }
    }

    private func loop() {
        while true {
            let stop = lock.withLock { () -> Bool in
                while !requested && !stopping { wake.wait() }
                requested = false
                return stopping
            }
            if stop { return }
            work()
        }
    }

    /// Asks for one more run of `work`.
    func request() {
        let signal = lock.withLock { () -> Bool in
            let wasIdle = !requested
            requested = true
            return wasIdle
        }
        if signal { wake.signal() }
    }

    /// Stops the thread after the run in progress, if any, and joins it.
    /// Must not be called from `work`.
    func stop() {
        guard !joined else { return }
        joined = true
        lock.withLock { stopping = true }
        wake.signal()
        thread?.join()
        thread = nil
    }
}
