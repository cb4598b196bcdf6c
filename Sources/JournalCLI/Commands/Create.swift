import ArgumentParser
import Journal
import JournalCLISupport

/// `journalctl-swift create`: a new, empty journal.
struct Create: ParsableCommand, JournalCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create an empty journal (and its directory, mode 0700, if missing).",
        discussion: "Sizes take a binary suffix: 4096, 256K, 64M, 1G. The parameters are stored in journal.meta and fixed for the journal's life.")

    @OptionGroup var location: JournalLocation

    @Option(name: .long, help: ArgumentHelp("Bytes per segment file (a multiple of the page size).", valueName: "bytes"))
    var segmentBytes = ByteCount(bytes: JournalConfiguration().segmentBytes)

    @Option(name: .long, help: ArgumentHelp("Most segment files the journal may hold (0: no limit; otherwise at least 2). At the limit, appends fail with 'journal full' until truncate releases segments.", valueName: "n"))
    var segmentCountMax = JournalConfiguration().segmentCountMax

    @Option(name: .long, help: ArgumentHelp("Largest record payload accepted.", valueName: "bytes"))
    var recordBytesMax = ByteCount(bytes: JournalConfiguration().recordBytesMax)

    @Option(name: .long, help: ArgumentHelp("Fragmentation page: no fragment crosses a multiple of it (a power of two, 4K...16M).", valueName: "bytes"))
    var pageBytes = ByteCount(bytes: JournalConfiguration().pageBytes)

    @Option(name: .long, help: ArgumentHelp("Batch alignment (a power of two and a multiple of the file system's direct-I/O alignment; default: that alignment, at least 4096).", valueName: "bytes"))
    var blockBytes: ByteCount?

    func validate() throws {
        guard segmentCountMax >= 0 else { throw ValidationError("--segment-count-max must not be negative") }
    }

    func run() throws {
        var configuration = JournalConfiguration()
        configuration.segmentBytes = segmentBytes.bytes
        configuration.segmentCountMax = segmentCountMax
        configuration.recordBytesMax = recordBytesMax.bytes
        configuration.pageBytes = pageBytes.bytes
        configuration.blockBytes = blockBytes?.bytes
        let storage = try location.storage(create: true)
        do {
            try Journal.create(storage: storage, configuration: configuration)
        } catch .invalidArgument(let problem) {
            throw CLIError(.configuration, "invalid configuration: \(problem)")
        } catch {
            throw CLIError(error)
        }
        print("created journal \(location.journal): segments of \(segmentBytes.bytes) bytes, limit \(segmentCountMax == 0 ? "none" : String(segmentCountMax)), records up to \(recordBytesMax.bytes) bytes")
    }
}

/// `journalctl-swift truncate --before LSN`.
struct Truncate: ParsableCommand, JournalCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release every segment whose records all have LSNs below --before.",
        discussion: "The segment being written is never released, so records at or above the oldest kept segment's base remain readable. Nor is a segment holding a record at or above a named reader position (`position list`), unless that position keeps more than --retained-bytes-max. Takes the writer lock.")

    @OptionGroup var location: JournalLocation

    @Option(name: .long, help: ArgumentHelp("Release segments holding only records below this LSN.", valueName: "lsn"))
    var before: UInt64

    @Option(name: .long, help: ArgumentHelp(
        "Most bytes of segments a reader position may keep from truncation (suffix K, M, G); past it the position is overtaken (default 4G).",
        valueName: "bytes"))
    var retainedBytesMax: ByteCount?

    func run() throws {
        let journal = try location.openWriter(retainedBytesMax: retainedBytesMax?.bytes)
        defer { journal.close() }
        let released: Int
        do { released = try journal.truncate(before: before) } catch { throw CLIError(error) }
        print("released \(released) segment\(released == 1 ? "" : "s"); oldest LSN \(journal.oldestLSN), durable LSN \(journal.durableLSN)")
    }
}
