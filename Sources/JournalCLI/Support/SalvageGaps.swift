import Journal
import JournalCLISupport

extension RecoveryReport {
    /// The error a reading command ends with, after its output, when
    /// salvage skipped damaged regions (Docs/cli.md: exit 65); nil when it
    /// skipped none. Names each region's missing LSNs and byte locations.
    var salvageError: CLIError? {
        guard !gaps.isEmpty else { return nil }
        let regions = gaps.map {
            let lsns = $0.firstLSNAfter > $0.lastLSNBefore + 1 ? "LSN \($0.lastLSNBefore + 1)...\($0.firstLSNAfter - 1)" : "no LSN (a segment header)"
            let resumed = $0.resumeSegment.isEmpty ? "to the end of the log" : "to \($0.resumeSegment):\($0.resumeOffset)"
            return "\(lsns) from \($0.segment):\($0.offset) \(resumed)"
        }
        let plural = gaps.count == 1 ? "" : "s"
        return CLIError(.corruption, "corruption: salvage skipped \(gaps.count) damaged region\(plural): \(regions.joined(separator: ", "))")
    }
}
