import ArgumentParser
import Journal
import JournalCLISupport

/// `journalctl-swift replay`: every durable record, in LSN order.
struct Replay: ParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the journal's records in LSN order.",
        discussion: """
            Opens the journal for reading (no lock: a writer may be running; replay shows what \
            was durable when it started). Formats:

            text (default): "<lsn><TAB><payload>" per line. The payload is UTF-8 text with \
            escapes, so the output is unambiguous: \\\\ for a backslash, \\t tab, \\n newline, \
            \\r carriage return, and \\xHH for any other control byte or any byte that is not part \
            of valid UTF-8.

            --binary: the payloads alone, framed as `append --binary` reads them (4-byte \
            little-endian length, then the bytes), so `replay --binary | append --binary` copies a journal.

            --json: one object per line: {"lsn": N, "bytes": N, "payload_base64": "..."} \
            (standard base64 with padding).

            --follow: go on printing records as the writer (in another process) makes them \
            durable, like `tail -f`, through its rollovers, truncations and restarts; output is \
            flushed whenever everything durable so far is printed. Ends with exit status 0 on \
            SIGINT or SIGTERM, or when standard output is closed; with --until-writer-closes, also \
            once it has printed every record of a writer that closed cleanly (a writer that \
            crashes is waited for: the next one goes on).

            --position NAME (with --follow): resume from the named reader position (see \
            `position`) and advance it each time the output is flushed, so a restart goes on \
            where the last run's flushed output ended. Delivery is at least once: records \
            printed after the last flush (at most the records durable at that moment) may be \
            printed again after a kill; none is skipped. A position truncation overtook exits 79; \
            one another reader holds (one consumer per position) exits 75.
            """)

    @OptionGroup var location: JournalLocation
    @OptionGroup var recoveryOption: RecoveryOption

    @Option(name: .long, help: ArgumentHelp("First LSN to print (default: the oldest in the journal).", valueName: "lsn"))
    var from: UInt64?

    @Flag(name: .long, help: "Write length-prefixed payloads (the framing of append --binary).")
    var binary = false

    @Flag(name: .long, help: "Write one JSON object per record.")
    var json = false

    @Flag(name: .long, help: "Keep printing records as they become durable, until SIGINT.")
    var follow = false

    @Flag(name: .long, help: "With --follow: end once the writer has closed cleanly and all it wrote is printed.")
    var untilWriterCloses = false

    @Option(name: .long, help: ArgumentHelp("With --follow: resume from this named reader position and advance it.", valueName: "name"))
    var position: String?

    var verbose: Bool { location.verbose }

    func validate() throws {
        if binary && json { throw ValidationError("--binary and --json exclude each other") }
        if untilWriterCloses && !follow { throw ValidationError("--until-writer-closes needs --follow") }
        if position != nil && !follow { throw ValidationError("--position needs --follow") }
        if position != nil && from != nil { throw ValidationError("--position and --from exclude each other") }
    }

    func run() throws {
        if follow { return try runFollow() }
        let journal = try location.openReader(recovery: recoveryOption.recovery)
        let oldest = journal.oldestLSN
        let durable = journal.durableLSN
        if let from, from < oldest || from > durable + 1 {
            throw CLIError(JournalError.lsnOutOfRange(requested: from, first: oldest, durable: durable))
        }
        let out = OutputBuffer(fd: 1)
        let progress = ProgressLine()
        var scratch: [UInt8] = []
        var count = 0
        let binary = binary
        let json = json
        do {
            try journal.forEachRecord(from: from ?? oldest) { lsn, payload in
                Self.write(lsn: lsn, payload: payload, binary: binary, json: json, out: out, scratch: &scratch)
                count += 1
                progress.update("replay: LSN \(lsn) of \(durable), \(count) records")
                return true
            }
        } catch {
            out.flush()
            progress.finish()
            throw CLIError.from(error) ?? CLIError(.ioError, "\(error)")
        }
        out.flush()
        progress.finish()
        if let e = out.failure { throw CLIError(.ioError, "writing standard output: errno \(e)") }
        if let skipped = journal.recoveryReport.salvageError { throw skipped }
    }
}
