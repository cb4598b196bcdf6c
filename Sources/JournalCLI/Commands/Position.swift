import ArgumentParser
import Journal
import JournalCLISupport
import JournalPrimitives

// `journalctl-swift position`: named reader positions (journal-format.md,
// section 12), beside a running writer or not.

/// `journalctl-swift position create|advance|drop|list`.
struct Position: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, advance, drop and list named reader positions, which hold truncation back.",
        discussion: """
            A named reader position is the LSN of the next record a reader needs, kept in a file \
            beside the segments (position-NAME.pos). While it exists, truncation (`truncate`, or a \
            store's checkpoints) keeps every record at or above it, unless it keeps more than the \
            writer's --retained-bytes-max: then truncation goes past it and a reader from it exits \
            79 (fell behind). `replay --follow --position NAME` resumes from a position and \
            advances it. Works beside a running writer (no writer lock taken). One consumer per \
            position: while a `replay --follow --position NAME` holds it, `create`, `advance`, \
            `drop` and a second follower of it exit 75 (locked).
            """,
        subcommands: [Create.self, Advance.self, Drop.self, List.self])

    /// Opens the journal as a follower would: beside a writer, without its lock.
    static func open(_ location: JournalLocation, _ recovery: RecoveryMode) throws(CLIError) -> Journal {
        let storage = try location.storage()
        do { return try Journal.openForFollowing(storage: storage, recovery: recovery) } catch { throw CLIError(error) }
    }

    struct Create: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(abstract: "Create a named position.")
        @OptionGroup var location: JournalLocation
        @OptionGroup var recoveryOption: RecoveryOption
        @Argument(help: "The position's name: 1 to 64 letters, digits, '_', '-' or '.'.") var name: String
        @Option(name: .long, help: ArgumentHelp("The first LSN it keeps (default: the oldest in the journal).", valueName: "lsn"))
        var at: UInt64?
        var verbose: Bool { location.verbose }

        func run() throws {
            let journal = try Position.open(location, recoveryOption.recovery)
            defer { journal.close() }
            let lsn = at ?? journal.oldestLSN
            do { _ = try journal.createPosition(named: name, at: lsn) } catch { throw CLIError(error) }
            print("created position \(name) at LSN \(lsn)")
        }
    }

    struct Advance: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a named position on: its reader no longer needs the records below LSN.")
        @OptionGroup var location: JournalLocation
        @OptionGroup var recoveryOption: RecoveryOption
        @Argument(help: "The position's name.") var name: String
        @Argument(help: "The LSN of the next record its reader needs (a lower one changes nothing).") var lsn: UInt64
        var verbose: Bool { location.verbose }

        func run() throws {
            let journal = try Position.open(location, recoveryOption.recovery)
            defer { journal.close() }
            do {
                let position = try journal.position(named: name)
                try position.advance(to: lsn)
                print("position \(name) at LSN \(position.lsn)")
            } catch { throw CLIError(error) }
        }
    }

    struct Drop: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a named position: truncation no longer keeps records for it.")
        @OptionGroup var location: JournalLocation
        @OptionGroup var recoveryOption: RecoveryOption
        @Argument(help: "The position's name.") var name: String
        var verbose: Bool { location.verbose }

        func run() throws {
            let journal = try Position.open(location, recoveryOption.recovery)
            defer { journal.close() }
            do { try journal.dropPosition(named: name) } catch { throw CLIError(error) }
            print("dropped position \(name)")
        }
    }

    struct List: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the named positions and how far each is behind the durable LSN.")
        @OptionGroup var location: JournalLocation
        @OptionGroup var recoveryOption: RecoveryOption
        @Flag(name: .long, help: "Print one JSON array.") var json = false
        var verbose: Bool { location.verbose }

        func run() throws {
            let journal = try Position.open(location, recoveryOption.recovery)
            defer { journal.close() }
            let statuses: [ReaderPositionStatus]
            do { statuses = try journal.readerPositionStatuses() } catch { throw CLIError(error) }
            print(json ? JSON.array(statuses.map(Self.json)) : statuses.map(Self.text).joined(separator: "\n"))
        }

        static func json(_ s: ReaderPositionStatus) -> String {
            JSON.object([
                ("name", JSON.quote(s.name)), ("lsn", "\(s.lsn)"), ("lag_records", "\(s.lagRecords)"),
                ("lag_bytes", "\(s.lagBytes)"), ("retained_bytes", "\(s.retainedBytes)"), ("fell_behind", s.fellBehind ? "true" : "false"),
            ])
        }

        static func text(_ s: ReaderPositionStatus) -> String {
            "\(s.name)  LSN \(s.lsn)  lag \(s.lagRecords) records, \(s.lagBytes) bytes  retains \(s.retainedBytes) bytes"
                + (s.fellBehind ? "  FELL BEHIND" : "")
        }
    }
}
