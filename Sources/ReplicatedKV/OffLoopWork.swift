import NIOCore
import NIOPosix

/// Where a node runs raft's async work (a snapshot of its store): on a
/// thread of NIO's shared pool, after which the loop is woken to fire the
/// work's callback (`JournalRaftIO.offLoopRunner`).
enum OffLoopWork {
    /// A runner whose jobs run on the shared thread pool; `wake` then runs
    /// on `loop`. A job runs even if the pool is shutting down: raft's close
    /// waits for it.
    static func runner(loop: any EventLoop, wake: @escaping @Sendable () -> Void) -> (@escaping @Sendable () -> Void) -> Void {
        { job in
            NIOThreadPool.singleton.submit { _ in
                job()
                loop.execute(wake)
            }
        }
    }
}
