@_spi(Testing) public import Journal

/// What one seed of `crash-sim` explores: the seed picks the workload's size
/// and fault profile, so `--seed S --cut K` alone reruns a point.
///
/// Seeds cycle through the fault profiles (seed % 5); every fourth group of
/// five (seed / 5 % 4 == 3) is a large workload cut at random points, the
/// rest small ones cut at every boundary.
public struct JournalCrashScenario: Sendable, CustomStringConvertible {
    public enum Size: String, Sendable, CaseIterable {
        /// Cut at every I/O boundary.
        case small
        /// Cut at seeded random boundaries.
        case large
    }

    public var seed: UInt64
    public var size: Size
    public var parameters: JournalWorkloadParameters

    /// Records of the small workloads unless told otherwise.
    public static let exhaustiveRecordsDefault = 24
    public static let exhaustiveRecordsRange = 1...400

    /// The scenario of `seed`, with any of its choices overridden.
    public init(
        seed: UInt64, exhaustiveRecords: Int = Self.exhaustiveRecordsDefault, size: Size? = nil,
        profile: CrashFaultProfile? = nil
    ) {
        self.init(seed: seed, exhaustiveRecords: exhaustiveRecords, size: size, profile: profile, defects: [])
    }

    /// The scenario of `seed` with deliberate journal defects switched on.
    @_spi(Testing) public init(
        seed: UInt64, exhaustiveRecords: Int, size: Size?, profile: CrashFaultProfile?, defects: JournalDefects
    ) {
        precondition(Self.exhaustiveRecordsRange.contains(exhaustiveRecords))
        let profiles = CrashFaultProfile.allCases
        let chosenSize = size ?? (seed / UInt64(profiles.count) % 4 == 3 ? .large : .small)
        var chosenProfile = profile ?? profiles[Int(seed % UInt64(profiles.count))]
        if profile == nil && !defects.isEmpty {
            // A defect shows under the profile that exposes it: acknowledging
            // early needs only torn writes; skipped checksums and rewritten
            // blocks need garbage to reach a record.
            chosenProfile = defects == .acknowledgeBeforeDurable ? .none : .garbage
        }
        var p: JournalWorkloadParameters
        switch chosenSize {
        case .small: p = .small(records: exhaustiveRecords, profile: chosenProfile)
        case .large: p = .large(profile: chosenProfile)
        }
        p.defects = defects
        self.seed = seed
        self.size = chosenSize
        self.parameters = p
    }

    public var explorer: CrashExplorer<JournalCrashWorkload> {
        // A large workload's recovery is cut at a few boundaries only.
        CrashExplorer(JournalCrashWorkload(parameters), recoveryCutsMax: size == .large ? 2 : nil)
    }

    /// Explores the seed: every boundary (small) or `randomPoints` (large).
    public func explore(randomPoints: Int) -> CrashReport {
        switch size {
        case .small: explorer.exploreExhaustively(seed: seed)
        case .large: explorer.exploreRandomly(seed: seed, points: randomPoints)
        }
    }

    public var description: String { "seed \(seed): \(size.rawValue) workload, \(parameters)" }
}
