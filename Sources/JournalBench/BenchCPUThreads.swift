internal import CValgrind
import Foundation
import Dispatch
import Journal
import JournalCLISupport
import JournalPrimitives
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// The threaded cells of `bench cpu` (`--api blocking-threaded`,
// `--api async-threaded`): one thread calling `appendBlocking`, or one task
// calling `append`, on a journal in its threaded runtime with inline writes
// off, so that every append takes the trip the manual cells leave out: the
// appender wakes the I/O thread and parks (a task suspends), the I/O thread
// hands the batch to the write queue and waits, the queue's thread writes
// it, the I/O thread completes it and unparks the appender (resumes the
// task, which the cooperative pool runs again). Writes go through the
// thread-pool backend: valgrind runs one thread at a time, and a thread
// sleeping in io_uring_enter would hold the others up. With one appender,
// one write per append, so each append takes the same path; with
// `--tasks N`, N tasks append at once and share the batches, one
// resumption per task and a write per batch, how many records a batch
// holds following the threads' timing. What the threads' wake-ups cost in
// the kernel is not counted, their instructions in the process are.

extension BenchCPU {
    func runThreadedAppends() throws {
        let temp = try makeTemporaryDirectory(under: dir)
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let journal = try openThreadedJournal(temp + "/journal")
        defer { journal.close() }
        let record = [UInt8]((0..<recordBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let warmup = warmupRecords
        let tasks = self.tasks
        // The warm-up takes the measured path, so that the cooperative pool's
        // threads exist before the count starts.
        let warmupFailure = api == .asyncThreaded
            ? Self.appendFromTasks(journal, record, count: warmup, tasks: tasks)
            : Self.appendFromThread(journal, record, count: warmup)
        if let failure = warmupFailure { throw CLIError(failure) }
        // The spares are prepared by the journal's own thread: wait for them,
        // so that no zero-filling lands in the measured loop.
        let deadline = monotonicNanos() + 60_000_000_000
        while journal.segmentPreparation.zeroFilled < JournalOptions().spareSegments {
            guard monotonicNanos() < deadline else { throw CLIError(.ioError, "bench cpu: the spare segments were not prepared within 60 s") }
            usleep(1_000)
        }
        let segmentsBefore = journal.segmentSummaries.count
        let count = records
        let start = monotonicNanos()
        cjournal_callgrind_start()
        let failure = api == .asyncThreaded
            ? Self.appendFromTasks(journal, record, count: count, tasks: tasks)
            : Self.appendFromThread(journal, record, count: count)
        cjournal_callgrind_stop()
        let nanos = monotonicNanos() - start
        if let failure { throw CLIError(failure) }
        try BenchCPU.checkMeasuredAppends(journal, segmentsBefore: segmentsBefore, appended: warmup + count)
        let underValgrind = cjournal_running_on_valgrind() != 0
        print("{\"suite\":\"cpu-driver\",\"api\":\"\(api.rawValue)\",\"batch\":1,\"tasks\":\(tasks),\"records\":\(count),\"record_bytes\":\(recordBytes),\"warmup_records\":\(warmup),\"valgrind\":\(underValgrind),\"nanoseconds\":\(nanos)}")
    }

    private static func appendFromThread(_ journal: Journal, _ record: [UInt8], count: Int) -> JournalError? {
        do throws(JournalError) {
            for _ in 0..<count { _ = try journal.appendBlocking(record) }
            return nil
        } catch { return error }
    }

    /// `tasks` tasks append `count` records between them, each an equal
    /// share; the calling thread waits for them.
    private static func appendFromTasks(_ journal: Journal, _ record: [UInt8], count: Int, tasks: Int) -> JournalError? {
        let outcome = Mutex<JournalError?>(nil)
        let done = DispatchSemaphore(value: 0)
        let share = count / tasks
        Task.detached {
            let failure = await withTaskGroup(of: JournalError?.self) { group in
                for _ in 0..<tasks {
                    group.addTask {
                        do throws(JournalError) {
                            for _ in 0..<share { _ = try await journal.append(record) }
                            return nil
                        } catch { return error }
                    }
                }
                var first: JournalError?
                for await failure in group { first = first ?? failure }
                return first
            }
            outcome.withLock { $0 = failure }
            done.signal()
        }
        done.wait()
        return outcome.withLock { $0 }
    }

    /// Creates and opens the journal in its threaded runtime over the
    /// thread-pool backend, inline writes off.
    private func openThreadedJournal(_ path: String) throws -> Journal {
        var options = JournalOptions()
        options.inlineWrites = false
        options.inlineWritesFromTasksMicrosecondsMax = 0
        return try createAndOpenJournal(try makeStorage(path, ioBackend: .threads), options: options)
    }
}
