#if canImport(Glibc)
import Glibc
#endif

/// A POSIX thread running one closure, joined explicitly.
final class SimpleThread {
    private var thread = pthread_t()
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    struct StartError: Error {}

    init(_ body: @escaping @Sendable () -> Void) throws {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        if rc != 0 { throw StartError() }
    }

    func join() { pthread_join(thread, nil) }
}
