import ArgumentParser
internal import CValgrind
import Dispatch
import Journal
import JournalCLISupport
import JournalPrimitives
import Synchronization

// The API cells of `bench cpu`: one appender calling the blocking or the
// async append in a loop, in the manual runtime as the other cells (an
// append that does not write inline pumps until its record is durable).
// What the async cell adds to the blocking one is the cost of the async
// API itself: the task, its continuations, the suspension points. The
// threaded runtime's hand-offs (the I/O thread's wake-up, the trip through
// the cooperative pool) are not counted: under valgrind, which runs one
// thread at a time, a journal with an I/O thread sleeping in io_uring_enter
// does not make progress.

extension BenchCPU {
    /// The APIs a threaded cell measures.
    enum API: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// `--batch` enqueues, then pumps until the last is durable.
        case enqueue
        /// `appendBlocking` from one thread (inline writes on, the default).
        case blocking
        /// `append` (async) from one task.
        case async
        /// `KeyValueStore.put` from one thread (BenchCPUKV.swift).
        case kvPut = "kv-put"
        /// `appendBlocking` from one thread, or `append` from one task, in
        /// the threaded runtime, every write through the I/O thread
        /// (BenchCPUThreads.swift).
        case blockingThreaded = "blocking-threaded"
        case asyncThreaded = "async-threaded"
    }

    /// Appends `count` records one at a time through `api` from a single
    /// appender; `instrumented`: with callgrind's instrumentation on around
    /// the loop only (off for the warm-up).
    static func appendThroughAPI(_ journal: Journal, api: API, record: UnsafeRawBufferPointer, count: Int, instrumented: Bool) throws(JournalError) {
        let bytes = [UInt8](record)
        switch api {
        case .enqueue:
            preconditionFailure("enqueue cells run in appendBatches")
        case .kvPut:
            preconditionFailure("the key-value cell runs in runKeyValuePuts")
        case .blockingThreaded, .asyncThreaded:
            preconditionFailure("the threaded cell runs in runThreadedAppends")
        case .blocking:
            if instrumented { cjournal_callgrind_start() }
            defer { if instrumented { cjournal_callgrind_stop() } }
            for _ in 0..<count { _ = try journal.appendBlocking(bytes) }
        case .async:
            let outcome = Mutex<JournalError?>(nil)
            let done = DispatchSemaphore(value: 0)
            Task.detached {
                if instrumented { cjournal_callgrind_start() }
                do throws(JournalError) {
                    for _ in 0..<count { _ = try await journal.append(bytes) }
                } catch {
                    outcome.withLock { $0 = error }
                }
                if instrumented { cjournal_callgrind_stop() }
                done.signal()
            }
            done.wait()
            if let error = outcome.withLock({ $0 }) { throw error }
        }
    }
}
