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
// task, which the cooperative pool runs again). Writes go through the thread-pool
// backend: valgrind runs one thread at a time, and a thread sleeping in
// io_uring_enter would hold the others up. One appender and one write per
// append, so each append takes the same path; what the threads' wake-ups
// cost in the kernel is not counted, their instructions in the process are.

extension BenchCPU {
    func runThreadedAppends() throws {
        let temp = try makeTemporaryDirectory(under: dir)
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let journal = try openThreadedJournal(temp + "/journal")
        defer { journal.close() }
        let record = [UInt8]((0..<recordBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let warmup = warmupRecords
        if let failure = Self.appendFromThread(journal, record, count: warmup) { throw CLIError(failure) }
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
            ? Self.appendFromTask(journal, record, count: count)
            : Self.appendFromThread(journal, record, count: count)
        cjournal_callgrind_stop()
        let nanos = monotonicNanos() - start
        if let failure { throw CLIError(failure) }
        try BenchCPU.checkMeasuredAppends(journal, segmentsBefore: segmentsBefore, appended: warmup + count)
        let underValgrind = cjournal_running_on_valgrind() != 0
        print("{\"suite\":\"cpu-driver\",\"api\":\"\(api.rawValue)\",\"batch\":1,\"records\":\(count),\"record_bytes\":\(recordBytes),\"warmup_records\":\(warmup),\"valgrind\":\(underValgrind),\"nanoseconds\":\(nanos)}")
    }

    private static func appendFromThread(_ journal: Journal, _ record: [UInt8], count: Int) -> JournalError? {
        do throws(JournalError) {
            for _ in 0..<count { _ = try journal.appendBlocking(record) }
            return nil
        } catch { return error }
    }

    /// One task appends `count` records; the calling thread waits for it.
    private static func appendFromTask(_ journal: Journal, _ record: [UInt8], count: Int) -> JournalError? {
        let outcome = Mutex<JournalError?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do throws(JournalError) {
                for _ in 0..<count { _ = try await journal.append(record) }
            } catch {
                outcome.withLock { $0 = error }
            }
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
