public import ArgumentParser
import JournalBench
import JournalCLISupport
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `journalctl-swift`: create, append to, replay, inspect, verify and
/// truncate a journal from the shell; `demo` runs the main job; `kv` works
/// a key-value store; `crash-sim` cuts the power under the journal or the
/// store on a simulated disk; `bench` (the `JournalBench` module) measures.
public struct JournalCtl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "journalctl-swift",
        abstract: "Create, append to, replay, inspect, verify and truncate a write-ahead-log journal.",
        discussion: """
            Every subcommand takes --journal DIR (default ./data/journal). \
            `journalctl-swift demo` appends a concurrent workload to the journal, replays it and reports.

            \(JournalExitCode.helpTable)
            """,
        subcommands: [
            Create.self, Append.self, Replay.self, Inspect.self, Verify.self, Truncate.self, Position.self, Demo.self, Bench.self,
            KV.self,
            CrashSim.self,
        ])

    public init() {}

    /// Parses the arguments, runs the command, and exits with the documented
    /// code. Errors are one line on stderr: `journalctl-swift: <description>`.
    ///
    /// Main-actor isolated so that a synchronous command runs on the main
    /// thread, called from the top-level code without a hop: the main thread
    /// then never parks in the dispatch main loop (whose `rt_sigsuspend` on a
    /// read-only signal mask crashes valgrind 3.19, which `bench cpu` runs
    /// under), and blocking commands keep off the cooperative thread pool.
    @MainActor
    public static func execute() async -> Never {
        var command: any ParsableCommand
        do {
            command = try parseCommand()
        } catch {
            fail(parserError: error)
        }
        do {
            if let asyncCommand = command as? any AsyncParsableCommand {
                try await runAsync(asyncCommand)
            } else {
                try command.run()
            }
        } catch let error as CLIError {
            fail(error)
        } catch {
            if let mapped = CLIError.from(error) { fail(mapped) }
            fail(parserError: error)
        }
        Glibc.exit(0)
    }

    /// Parses the arguments and bootstraps logging. The command is owned by
    /// the caller (so that an async one can be sent off the main actor).
    nonisolated static func parseCommand() throws -> sending any ParsableCommand {
        let command = try parseAsRoot()
        LogSetup.bootstrap(verbose: (command as? any LoggingCommand)?.verbose ?? false)
        return command
    }

    /// Runs an async command off the main actor.
    nonisolated static func runAsync(_ command: sending any AsyncParsableCommand) async throws {
        var runnable = command
        try await runnable.run()
    }

    static func fail(_ error: CLIError) -> Never {
        writeStandardError("journalctl-swift: \(error.message)")
        Glibc.exit(error.code.rawValue)
    }

    /// Help, version and usage errors from the argument parser. Help goes to
    /// stdout with code 0; a usage error is one line on stderr, code 64.
    static func fail(parserError error: any Error) -> Never {
        let code = exitCode(for: error)
        if code == .success {
            exit(withError: error)
        }
        let message = self.message(for: error).trimmingWhitespace()
        let line = message.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? "error"
        let text = line.hasPrefix("Error: ") ? String(line.dropFirst(7)) : line
        writeStandardError("journalctl-swift: \(text) (see 'journalctl-swift --help')")
        Glibc.exit(code == .validationFailure ? JournalExitCode.usage.rawValue : code.rawValue)
    }
}
