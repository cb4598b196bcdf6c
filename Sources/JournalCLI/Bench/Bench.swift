import ArgumentParser

/// `journalctl-swift bench ...`: the measurements. Each bench is one line
/// in `subcommands`.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the journal and the paged file.",
        subcommands: Self.benches)

    /// Every bench, in the order `bench all` would run them.
    // A `bench all` subcommand goes beside these (it runs each of `benches` in turn).
    static let benches: [any ParsableCommand.Type] = [
        // TODO(registration): add `BenchPagedFile.self,` here once Bench/BenchPagedFile.swift exists.
        BenchAppend.self,
    ]
}
