#if canImport(Glibc)
import Glibc
#endif

/// How much of each CPU-heavy simulation a run covers.
///
/// The crash explorers, the simulated raft cluster and the other seeded
/// single-threaded loops do the same work whatever the schedule, and
/// `make test` runs them in full. Under ThreadSanitizer every memory access
/// costs several times as much, yet these loops have no second thread for
/// it to watch, so `make test-tsan` sets `SWIFT_JOURNAL_TEST_SEED_DIVISOR`
/// and they run the first 1/N of their seeds (every test still runs, with
/// at least one seed). Tests that run real threads or processes do not use
/// it: they run in full everywhere.
public enum SeedScale {
    /// `SWIFT_JOURNAL_TEST_SEED_DIVISOR`, or 1 (everything) when unset.
    public static let divisor: Int = {
        guard let raw = getenv("SWIFT_JOURNAL_TEST_SEED_DIVISOR") else { return 1 }
        guard let value = Int(String(cString: raw)), value >= 1 else {
            fatalError("SWIFT_JOURNAL_TEST_SEED_DIVISOR must be a whole number of at least 1")
        }
        return value
    }()

    /// `count` divided by the divisor, never below `minimum`: a number of
    /// seeds or iterations, or a floor asserted over that many of them.
    public static func count(_ count: Int, minimum: Int = 1) -> Int {
        max(minimum, count / divisor)
    }

    /// The first `count(seeds.count)` seeds of `seeds`.
    public static func seeds(_ seeds: Range<UInt64>) -> Range<UInt64> {
        seeds.lowerBound ..< seeds.lowerBound + UInt64(count(seeds.count))
    }

    /// The first `count(seeds.count)` seeds of `seeds`.
    public static func seeds(_ seeds: ClosedRange<UInt64>) -> ClosedRange<UInt64> {
        seeds.lowerBound ... seeds.lowerBound + UInt64(count(seeds.count) - 1)
    }
}
