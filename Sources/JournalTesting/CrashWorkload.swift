// The extension point of the power-cut explorer.
//
// A crash workload is something that writes through the storage seam, keeps
// a model of what it was promised, and knows how to check a recovered state
// against that model. Two exist: the journal alone (`JournalCrashWorkload`,
// here) and the key-value store with its transactions and checkpoints
// (`KeyValueStoreCrashWorkload`, in the StoreCrashTesting module). The
// explorer (`CrashExplorer`) does the rest: it runs the workload on a
// simulated disk, cuts the power at an I/O boundary, recovers, checks, cuts
// again during recovery and checks that the second recovery agrees with the
// first.
//
// To plug in another layer, as the key-value workload does:
// - `Model` records every transaction committed and which were acknowledged;
// - `run` drives the store from one thread (manual runtime) until it is done
//   or the power goes, re-arming the explorer's cut after any reboot of its
//   own (`CrashRun.rebootAndRearm`);
// - `recover` opens the store as its next user would, lets it finish what an
//   open does (which may write), reads its whole state and closes it;
// - `check` asserts that state equals the state after some prefix of the
//   committed transactions that includes every acknowledged one.

/// How one crash workload runs, recovers and is checked. See the comment at
/// the top of this file.
public protocol CrashWorkload: Sendable {
    /// What the workload was told, kept while it runs: what it wrote and what
    /// was acknowledged.
    associatedtype Model: Sendable
    /// A recovered state, compared between two recoveries.
    associatedtype State: Equatable & Sendable

    /// A short name for reports.
    var name: String { get }
    /// The faults the disk injects while the workload runs.
    var faults: SimulatedDisk.Faults { get }

    /// Runs on `run.disk` (fresh, powered on) until done or the power is cut.
    /// Never traps on a power-cut error. Findings it makes along the way (a
    /// recovery of its own) go into the model.
    func run(_ run: CrashRun) -> Model

    /// Damage done to the powered-off disk after the cut, before recovery
    /// (e.g. a bit flip in data at rest). Deterministic from `seed`.
    func damage(_ disk: SimulatedDisk, seed: UInt64, model: inout Model)

    /// Recovers as the next user would: opens (which may write: leftover
    /// files removed, spares prepared), reads the whole state, closes.
    func recover(_ storage: SimulatedStorage) -> RecoveryAttempt<State>

    /// What is wrong with a recovery, given the model. Empty when it is right.
    func check(_ attempt: RecoveryAttempt<State>, model: Model) -> [CrashFinding]

    /// Findings the run itself made (recoveries inside the workload).
    func findings(of model: Model) -> [CrashFinding]
}

extension CrashWorkload {
    public func damage(_ disk: SimulatedDisk, seed: UInt64, model: inout Model) {}
}

/// One run of a workload: its disk and the cut the explorer armed.
public struct CrashRun: Sendable {
    public let disk: SimulatedDisk
    public let seed: UInt64
    /// The I/O boundary after which the explorer cuts the power (nil: no cut).
    public let cutAfter: Int?

    public init(disk: SimulatedDisk, seed: UInt64, cutAfter: Int?) {
        self.disk = disk
        self.seed = seed
        self.cutAfter = cutAfter
        if let cutAfter { disk.cutAfter(ioBoundary: cutAfter) }
    }

    /// Whether the explorer's cut (or any) has happened.
    public var isPoweredOff: Bool { disk.isPoweredOff }

    /// A crash of the workload's own (a power cut now, then a reboot), after
    /// which the explorer's cut stays armed when it lies ahead.
    public func crashAndReboot() -> SimulatedStorage {
        if !disk.isPoweredOff { disk.powerCut() }
        let storage = disk.reboot()
        if let cutAfter {
            // A cut at a boundary already passed was the explorer's; the
            // workload stops at it rather than rebooting.
            precondition(cutAfter > disk.ioCount, "the workload reboots only before the explorer's cut")
            disk.cutAfter(ioBoundary: cutAfter)
        }
        return storage
    }
}

/// What a recovery gave.
public enum RecoveryAttempt<State: Equatable & Sendable>: Equatable, Sendable {
    /// The recovered state.
    case recovered(State)
    /// Recovery refused (corruption, not a journal...): a short kind that is
    /// the same across boots, and the message.
    case refused(kind: String, message: String)
    /// The power went during recovery.
    case interrupted

    /// Equal outcomes for the "same result" check: messages (which name the
    /// boot) aside.
    public func sameResult(as other: RecoveryAttempt<State>) -> Bool {
        switch (self, other) {
        case (.recovered(let a), .recovered(let b)): a == b
        case (.refused(let a, _), .refused(let b, _)): a == b
        case (.interrupted, .interrupted): true
        default: false
        }
    }
}

/// What a check found.
public struct CrashFinding: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A broken guarantee: acknowledged data lost, a record never
        /// appended or with other bytes returned, recoveries that disagree.
        case violation
        /// Injected damage that recovery detected and refused (corruption):
        /// what it should do.
        case detected
        /// Acknowledged records lost to injected damage that recovery cannot
        /// tell from a torn write (journal-format.md section 7, "What
        /// recovery cannot tell apart"). Counted, not a violation.
        case tolerated
    }

    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
