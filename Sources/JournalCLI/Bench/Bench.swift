import ArgumentParser

/// `journalctl-swift bench ...`: the measurements. Each bench is one line
/// in `subcommands`.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the journal and the paged file.",
        subcommands: Self.benches + [BenchAll.self])

    /// Every bench, in the order `bench all` runs them.
    static let benches: [any ParsableCommand.Type] = [
        BenchAppend.self,
        BenchPagedFile.self,
        BenchKV.self,
        BenchReplay.self,
    ]
}

/// `journalctl-swift bench all`: every bench in turn, with the same
/// `--quick` and `--json` choices.
struct BenchAll: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Run every bench in turn.")

    @Flag(help: "A short smoke pass of every bench.")
    var quick = false

    @Flag(help: "One JSON object per line.")
    var json = false

    @Option(help: "Directory for the journal bench's files (the file system measured).")
    var dir = "./data/bench"

    func run() throws {
        var flags: [String] = []
        if quick { flags.append("--quick") }
        if json { flags.append("--json") }
        let append = try BenchAppend.parse(flags + ["--dir", dir])
        try append.run()
        let paged = try BenchPagedFile.parse(flags)
        try paged.run()
    }
}
