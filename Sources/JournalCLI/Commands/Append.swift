import JournalPrimitives
import ArgumentParser
import Journal
import JournalCLISupport

#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift append`: records from stdin; each LSN printed once durable.
struct Append: ParsableCommand, JournalCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append records read from stdin; print each record's LSN once it is durable.",
        discussion: """
            Input: one record per line (without its newline; an empty line is an empty record; \
            a last line without a newline is a record too). With --binary, each record is a \
            4-byte little-endian length followed by that many bytes; input that ends inside a \
            record is an error (exit 64) after the complete records before it are appended.

            Output: the LSN of each record on its own line, in order, printed only once the record \
            is durable; stdout is flushed at each advance of the durable LSN, so a process killed \
            at any moment has printed only durable LSNs. --quiet prints one summary line instead.

            A record above the journal's maximum size, a full journal, a second writer or a failed \
            durable write stop the command with its exit code; every LSN printed before stays durable.
            """)

    @OptionGroup var location: JournalLocation

    @Flag(name: .long, help: "Read length-prefixed records (4-byte little-endian length, then the bytes) instead of lines.")
    var binary = false

    @Flag(name: .long, help: "Print one summary line (records, bytes, seconds, first and last LSN) instead of each LSN.")
    var quiet = false

    func run() throws {
        let journal = try location.openWriter()
        defer { journal.close() }
        let started = monotonicNanos()
        let reader = RecordReader(fd: 0, framing: binary ? .binary : .lines, recordBytesMax: journal.configuration.recordBytesMax)
        let printer = DurablePrinter(journal: journal, printing: !quiet)
        let progress = ProgressLine()
        var bytes = 0
        var inputFailure: (any Error)?
        do {
            try reader.forEach { payload in
                let lsn = try journal.enqueue(payload)
                bytes += payload.count
                printer.enqueued(lsn)
                progress.update("append: \(reader.recordCount) records, \(formatBytes(bytes)), durable LSN \(journal.durableLSN)")
            }
        } catch {
            inputFailure = error
        }
        // Everything enqueued before a failure still becomes durable (or the
        // journal is poisoned): wait for it and print it.
        let outcome = printer.finish()
        progress.finish()
        if let inputFailure {
            throw CLIError.from(inputFailure) ?? CLIError(.ioError, "\(inputFailure)")
        }
        if let failure = outcome.failure { throw CLIError(failure) }
        if quiet {
            let seconds = Double(monotonicNanos() - started) / 1e9
            let range = outcome.first.map { "LSN \($0)...\(outcome.last)" } ?? "no LSN"
            print("appended \(outcome.count) records, \(bytes) bytes in \(formatDecimal(seconds, places: 3)) s, \(range)")
        }
    }
}

/// Prints LSNs as they become durable, from a thread of its own: it waits
/// for the durable LSN to pass the last one printed, prints every enqueued
/// LSN up to it, and flushes.
final class DurablePrinter: @unchecked Sendable {
    struct Outcome {
        var first: LSN?
        var last: LSN = 0
        var count = 0
        var failure: JournalError?
    }

    private let journal: Journal
    private let printing: Bool
    private let monitor = Monitor()
    // Guarded by `monitor`.
    private var first: LSN?
    private var lastEnqueued: LSN = 0
    private var finished = false
    private var failure: JournalError?
    private var thread: JoinableThread?

    init(journal: Journal, printing: Bool) {
        self.journal = journal
        self.printing = printing
        thread = JoinableThread(name: "append-reader") { [self] in self.runLoop() }
    }

    /// Notes an enqueued LSN. LSNs arrive in order and without gaps: this
    /// process holds the writer lock and enqueues from one thread.
    func enqueued(_ lsn: LSN) {
        monitor.update {
            precondition(first == nil || lsn == lastEnqueued + 1, "one writer enqueues consecutive LSNs")
            if first == nil { first = lsn }
            lastEnqueued = lsn
        }
    }

    /// Waits until every enqueued LSN is printed (or the journal failed).
    func finish() -> Outcome {
        monitor.update { finished = true }
        thread?.join()
        thread = nil
        return monitor.withLock {
            Outcome(first: first, last: lastEnqueued, count: first.map { Int(lastEnqueued - $0 + 1) } ?? 0, failure: failure)
        }
    }

    private func runLoop() {
        let out = OutputBuffer(fd: 1)
        var printed: LSN = 0  // last LSN printed (0: none yet)
        while true {
            let (firstLSN, last, done) = monitor.wait(until: { finished || (first != nil && lastEnqueued > printed) }) {
                (first, lastEnqueued, finished)
            }
            guard let firstLSN else { return }  // finished with nothing enqueued
            if printed == 0 { printed = firstLSN - 1 }
            if last <= printed {
                if done { return }
                continue
            }
            do {
                try journal.waitUntilDurableBlocking(printed + 1)
            } catch {
                monitor.withLock { failure = error }
                return
            }
            let durable = min(journal.durableLSN, last)
            if printing {
                for lsn in (printed + 1)...durable {
                    out.write(decimal: lsn)
                    out.write(byte: UInt8(ascii: "\n"))
                }
                out.flush()
            }
            printed = durable
        }
    }
}
