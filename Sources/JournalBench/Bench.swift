package import ArgumentParser

/// `journalctl-swift bench ...`: the measurements. Each bench is one line
/// in `subcommands`.
package struct Bench: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the journal, the paged file and the key-value store beside their peers.",
        subcommands: Self.benches + [BenchAll.self, BenchReportCommand.self, BenchCPU.self, BenchSuspensionFloor.self])

    /// The benches, each runnable on its own (`bench all` runs them as
    /// child processes and writes the report).
    static let benches: [any ParsableCommand.Type] = [
        BenchAppend.self,
        BenchPagedFile.self,
        BenchKV.self,
        BenchReplay.self,
        BenchFollow.self,
    ]

    package init() {}
}
