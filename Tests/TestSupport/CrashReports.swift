public import JournalTesting
public import Testing

/// A crash report as a test comment: its summary and its first violations.
public func describe(_ report: CrashReport) -> Comment {
    Comment(rawValue: report.summary + report.violations.prefix(5).map { "\n  \($0.point): \($0.description)" }.joined())
}

/// Prints what an exploration covered (its counts, not its time), one line
/// per test, so that the coverage of two builds can be compared.
public func printCoverage(_ test: String, _ report: CrashReport) {
    print("crash explorer coverage: \(test): \(report.counts)")
}
