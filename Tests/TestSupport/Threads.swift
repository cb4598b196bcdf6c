import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A thread that runs `body`; `join()` waits for it.
public final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    public init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create")
    }

    public func join() { pthread_join(thread, nil) }
}

private final class ThreadStart: @unchecked Sendable {
    let body: @Sendable (Int) -> Void
    let index: Int
    init(body: @escaping @Sendable (Int) -> Void, index: Int) {
        self.body = body
        self.index = index
    }
}

/// Runs `body(i)` on `count` new threads at once and joins them all.
/// The threads wait on an atomic start line so that they overlap.
public func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let ready = Atomic<Int>(0)
    withUnsafePointer(to: ready) { readyPointer in
        let address = UInt(bitPattern: readyPointer)
        var threads: [pthread_t] = []
        for index in 0 ..< count {
            let start = ThreadStart(body: { i in
                let ready = UnsafePointer<Atomic<Int>>(bitPattern: address)!
                ready.pointee.wrappingAdd(1, ordering: .acquiringAndReleasing)
                while ready.pointee.load(ordering: .acquiring) < count { sched_yield() }
                body(i)
            }, index: index)
            let argument = Unmanaged.passRetained(start).toOpaque()
            var thread = pthread_t()
            let result = pthread_create(&thread, nil, { argument in
                let start = Unmanaged<ThreadStart>.fromOpaque(argument!).takeRetainedValue()
                start.body(start.index)
                return nil
            }, argument)
            precondition(result == 0, "pthread_create failed")
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
    }
}
