import Journal
import JournalPrimitives

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
    /// A thread's parking spot (`park`).
    private let parker = Parker()
    /// A task's wake: woken before it suspended, or its continuation.
    private let taskWake = LockedValue<TaskWake>(.idle)

    enum TaskWake {
        case idle
        case suspended(UnsafeContinuation<Void, Never>)
        case woken
    }

    init(_ operations: [KeyValueOperation], durable: Bool, isTask: Bool = false) {
        self.operations = operations
        self.durable = durable
        self.isTask = isTask
    }

    /// A thread's writer: blocks until `unpark` (at once if it came first).
    /// Once per request.
    func park() {
        assert(!isTask, "a task suspends")
        parker.park()
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
        guard isTask else { return parker.unpark() }
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
