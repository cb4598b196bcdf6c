public import ArgumentParser

/// `journalctl-swift bench suspension-floor`: how many suspend-and-resume
/// cycles per second the concurrency runtime itself allows on this machine
/// (`SuspensionFloor.swift`), the ceiling of async appends that each wait
/// for durability. `Tools/bench/async-floor.sh` runs it interleaved with
/// the journal's 64-task cell on tmpfs.
public struct BenchSuspensionFloor: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "suspension-floor",
        abstract: "Measure the concurrency runtime's suspend-and-resume rate, with no journal: the ceiling of waiting async appends.",
        discussion: """
            Tasks on the cooperative pool loop suspending on a continuation; one thread, woken once \
            every task waits, resumes them all, as the journal's writer resumes its durability waiters \
            (here with the most favorable grouping: every task in each batch). Prints suspensions/s \
            per round, their median, and the waiters resumed per wake-up. No I/O, no journal.
            """)

    @Option(name: .long, help: "Tasks suspending in a loop (1-4096).")
    var tasks: Int = 64

    @Option(name: .long, help: "Seconds per round.")
    var seconds: Double = 3

    @Option(name: .long, help: "Rounds (at least 1).")
    var rounds: Int = 3

    @Flag(name: .long, help: "One JSON object per round, then one for the median.")
    var json = false

    public init() {}

    public func validate() throws {
        guard (1...4096).contains(tasks) else { throw ValidationError("--tasks must be 1-4096") }
        guard seconds > 0, rounds >= 1 else { throw ValidationError("--seconds must be positive and --rounds at least 1") }
    }

    public func run() throws {
        var perSecond: [Double] = []
        for round in 1...rounds {
            let r = try runSuspensionFloor(tasks: tasks, seconds: seconds)
            perSecond.append(r.perSecond)
            print(json
                  ? jsonLine([("bench", .string("suspension-floor")), ("round", .integer(round)), ("tasks", .integer(tasks)),
                              ("suspensions_per_s", .number(r.perSecond)), ("resumed_per_wake_up", .number(r.perWakeUp))])
                  : "round \(round): \(tasks) tasks, \(formatNumber(r.perSecond)) suspensions/s, \(formatNumber(r.perWakeUp)) resumed per wake-up")
        }
        let summary = Summary(perSecond)
        print(json
              ? jsonLine([("bench", .string("suspension-floor")), ("tasks", .integer(tasks)), ("rounds", .integer(rounds)),
                          ("suspensions_per_s_median", .number(summary.median)),
                          ("suspensions_per_s_min", .number(summary.min)), ("suspensions_per_s_max", .number(summary.max))])
              : "median \(formatNumber(summary.median)) suspensions/s [\(formatNumber(summary.min))-\(formatNumber(summary.max))]")
    }
}
