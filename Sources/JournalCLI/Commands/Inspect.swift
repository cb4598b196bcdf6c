import JournalPrimitives
import ArgumentParser
import Journal
import JournalCLISupport

/// `journalctl-swift inspect`: what the journal holds and what recovery found.
struct Inspect: ParsableCommand, JournalCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show segments, LSN range, durable LSN, configuration and the recovery outcome.",
        discussion: "Opens the journal for reading (no lock). --json prints one JSON object.")

    @OptionGroup var location: JournalLocation
    @OptionGroup var recoveryOption: RecoveryOption

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func run() throws {
        let journal = try location.openReader(recovery: recoveryOption.recovery)
        let c = journal.configuration
        let r = journal.recoveryReport
        let segments = journal.segmentSummaries
        let positions: [ReaderPositionStatus]
        do { positions = try journal.readerPositionStatuses() } catch { throw CLIError(error) }
        let blockBytes = c.blockBytes ?? 0
        // What a writer opening this journal with these options would use.
        let backend = try location.storage().ioBackend
        if json {
            let segmentObjects = segments.map {
                JSON.object([("name", JSON.quote($0.name)), ("base_lsn", "\($0.baseLSN)"), ("last_lsn", "\($0.lastLSN)")])
            }
            let gaps = r.gaps.map {
                JSON.object([("segment", JSON.quote($0.segment)), ("offset", "\($0.offset)"),
                             ("last_lsn_before", "\($0.lastLSNBefore)"), ("first_lsn_after", "\($0.firstLSNAfter)"),
                ("resume_segment", JSON.quote($0.resumeSegment)), ("resume_offset", "\($0.resumeOffset)")])
            }
            print(JSON.object([
                ("journal", JSON.quote(location.journal)),
                ("format_version", "\(JournalFormat.version)"),
                ("configuration", JSON.object([
                    ("segment_bytes", "\(c.segmentBytes)"), ("segment_count_max", "\(c.segmentCountMax)"),
                    ("record_bytes_max", "\(c.recordBytesMax)"), ("page_bytes", "\(c.pageBytes)"),
                    ("block_bytes", "\(blockBytes)"),
                ])),
                ("io_backend", JSON.object([
                    ("backend", JSON.quote(backend.backend.rawValue)), ("reason", JSON.quote(backend.reason)),
                ])),
                ("oldest_lsn", "\(journal.oldestLSN)"),
                ("durable_lsn", "\(journal.durableLSN)"),
                ("next_lsn", "\(journal.nextLSN)"),
                ("segments", JSON.array(segmentObjects)),
                ("positions", JSON.array(positions.map(Position.List.json))),
                ("recovery", JSON.object([
                    ("mode", JSON.quote(recoveryOption.recovery.rawValue)),
                    ("outcome", JSON.quote(r.outcome.rawValue)), ("first_lsn", "\(r.firstLSN)"), ("last_lsn", "\(r.lastLSN)"),
                    ("record_count", "\(r.recordCount)"), ("segment_count", "\(r.segmentCount)"),
                    ("end_segment", JSON.quote(r.endSegment)), ("end_offset", "\(r.endOffset)"),
                    ("discarded_bytes", "\(r.discardedBytes)"), ("discarded_fragments", "\(r.discardedFragments)"),
                    ("gaps", JSON.array(gaps)), ("set_aside", JSON.array(r.setAsideSegments.map { JSON.quote($0) })),
                    ("description", JSON.quote(r.description)),
                ])),
            ]))
            if let skipped = r.salvageError { throw skipped }
            return
        }
        var lines = [
            "journal        \(location.journal) (format version \(JournalFormat.version))",
            "configuration  segments of \(c.segmentBytes) bytes, limit \(c.segmentCountMax == 0 ? "none" : String(c.segmentCountMax)), records up to \(c.recordBytesMax) bytes, pages \(c.pageBytes) bytes, blocks \(blockBytes) bytes",
            "LSN range      oldest \(journal.oldestLSN), durable \(journal.durableLSN), next \(journal.nextLSN)",
            "recovery       \(r.description)",
            "I/O backend    \(backend.backend.rawValue) for writes (\(backend.reason))",
            "segments       \(segments.count)",
        ]
        for s in segments {
            lines.append("  \(s.name)  base LSN \(s.baseLSN)  last LSN \(s.lastLSN)")
        }
        lines.append("positions      \(positions.count)")
        for p in positions { lines.append("  " + Position.List.text(p)) }
        print(lines.joined(separator: "\n"))
        if let skipped = r.salvageError { throw skipped }
    }
}

/// `journalctl-swift verify`: a full checksum scan.
struct Verify: ParsableCommand, JournalCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read every record, verifying every checksum; exit 65 on corruption.",
        discussion: """
            Opens the journal for reading (no lock) and walks every record from the oldest, checking \
            each fragment's checksums and the chain that links records. A torn tail (damage only \
            unacknowledged writes could cause) is reported and cut, not an error, unless \
            --recovery absolute. With --recovery salvage, skipped regions are reported and exit 65.
            """)

    @OptionGroup var location: JournalLocation
    @OptionGroup var recoveryOption: RecoveryOption

    func run() throws {
        let journal = try location.openReader(recovery: recoveryOption.recovery)
        let report = journal.recoveryReport
        let oldest = journal.oldestLSN
        let durable = journal.durableLSN
        // Salvage leaves gaps in the LSNs: walk the valid runs between them.
        var runs: [(LSN, LSN)] = []
        var runStart = oldest
        for gap in report.gaps.sorted(by: { $0.lastLSNBefore < $1.lastLSNBefore }) {
            if gap.lastLSNBefore >= runStart { runs.append((runStart, gap.lastLSNBefore)) }
            runStart = max(runStart, gap.firstLSNAfter)
        }
        if runStart <= durable { runs.append((runStart, durable)) }
        let progress = ProgressLine()
        var count = 0
        var bytes = 0
        do {
            for (first, last) in runs {
                try journal.forEachRecord(from: first, through: last) { lsn, payload in
                    count += 1
                    bytes += payload.count
                    progress.update("verify: LSN \(lsn) of \(durable), \(count) records")
                    return true
                }
            }
        } catch {
            progress.finish()
            let mapped = CLIError.from(error) ?? CLIError(.ioError, "\(error)")
            throw CLIError(mapped.code, "verify failed after \(count) records: \(mapped.message)")
        }
        progress.finish()
        // LSNs the gaps skipped, counted from the oldest record on.
        let missing = report.gaps.reduce(0) { $0 + max(0, Int($1.firstLSNAfter) - max(Int($1.lastLSNBefore) + 1, Int(oldest))) }
        let expected = durable >= oldest ? Int(durable - oldest + 1) - missing : 0
        print("verified \(count) records (\(bytes) bytes), LSN \(oldest)...\(durable) in \(journal.segmentSummaries.count) segments; recovery: \(report.description)")
        if count != expected {
            throw CLIError(.corruption, "verify read \(count) records where the journal's LSN range holds \(expected)")
        }
        if let skipped = report.salvageError { throw skipped }
    }
}
