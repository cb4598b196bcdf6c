import Journal
import JournalCLISupport

extension RecoveryReport {
    /// The error a reading command ends with, after its output, when
    /// salvage skipped damaged regions (Docs/cli.md: exit 65); nil when it
    /// skipped none. Names each region's missing LSNs and byte locations,
    /// and each segment file set aside for its size.
    var salvageError: CLIError? {
        guard !gaps.isEmpty || !setAsideSegments.isEmpty else { return nil }
        let regions = gaps.map {
            let lsns = $0.firstLSNAfter > $0.lastLSNBefore + 1 ? "LSN \($0.lastLSNBefore + 1)...\($0.firstLSNAfter - 1)" : "no missing LSN"
            let resumed = $0.resumeSegment.isEmpty ? "to the end of the log" : "to \($0.resumeSegment):\($0.resumeOffset)"
            return "\(lsns) from \($0.segment):\($0.offset) \(resumed)"
        } + setAsideSegments.map { "segment \($0) at offset 0, set aside unread (wrong size)" }
        let plural = regions.count == 1 ? "" : "s"
        return CLIError(.corruption, "corruption: salvage skipped \(regions.count) damaged region\(plural): \(regions.joined(separator: ", "))")
    }
}
