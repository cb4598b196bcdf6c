internal import CJournalConcurrency
#if canImport(Glibc)
import Glibc
#endif

/// A named, joinable pthread running `body`: the journal's writer and
/// segment preparer, the page store's maintenance, benchmark clients.
/// Threads rather than tasks because they block (in system calls, on
/// futexes and condition variables) for as long as they run.
public final class JoinableThread: @unchecked Sendable {
    // @unchecked: `handle` is written once by init; `joined` only by the
    // one thread that joins.
    private var handle = pthread_t()
    private var joined = false

    /// Starts the thread; `name` (its first 15 characters) shows in `top`
    /// and debuggers.
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let rc = start(name: name, body)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    private init() {}

    /// Starts the thread, or throws when the system cannot make one (for
    /// callers that can go on without it, such as benchmark clients).
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(Errno) -> JoinableThread {
        let thread = JoinableThread()
        let rc = thread.start(name: name, body)
        guard rc == 0 else { throw Errno(rawValue: rc) }
        return thread
    }

    private func start(name: String, _ body: @escaping @Sendable () -> Void) -> Int32 {
        let box = Unmanaged.passRetained(ThreadBody(name: name, body: body))
        let rc = pthread_create(&handle, nil, { raw in
            guard let raw else { return nil }
            let box = Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue()
            box.name.withCString { cjournal_set_thread_name($0) }
            box.body()
            return nil
        }, box.toOpaque())
        if rc != 0 { box.release() }
        return rc
    }

    /// Lets the thread run on unjoined: the system frees it when `body`
    /// returns. `join()` then returns at once.
    public func detach() {
        guard !joined else { return }
        joined = true
        pthread_detach(handle)
    }

    /// Waits for `body` to return. Later calls return at once.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }
}

private final class ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = String(name.prefix(15))
        self.body = body
    }
}
