import Foundation
import Testing
@testable import JournalBench

/// The `backends` suite's report and targets, drawn from fixed result lines:
/// per file system and cell, the median over runs of each backend's figure.
@Suite struct BenchBackendsReportTests {
    static func line(_ backend: String, _ fs: String, _ cell: String, ours: Double, toFio: Double) -> String {
        #"{"suite":"backends","io_backend":"\#(backend)","file_system":"\#(fs)","cell":"\#(cell)","metric":"commits_per_s","ours":\#(ours),"ratio_qd1":\#(toFio)}"#
    }

    /// Disk, 64 appenders: io_uring runs 100, 90, 80 (median 90), threads
    /// 70, 81, 60 (median 70): 0.78 of io_uring, under the 0.8 asked.
    /// tmpfs, 1 appender: io_uring 10, 12 (median 11), threads 10, 10: io_uring ahead.
    static let lines = [
        line("io-uring", "ext4", "append-128B-64", ours: 100, toFio: 10),
        line("threads", "ext4", "append-128B-64", ours: 70, toFio: 7),
        line("io-uring", "ext4", "append-128B-64", ours: 90, toFio: 9),
        line("threads", "ext4", "append-128B-64", ours: 81, toFio: 8),
        line("io-uring", "ext4", "append-128B-64", ours: 80, toFio: 8),
        line("threads", "ext4", "append-128B-64", ours: 60, toFio: 6),
        line("io-uring", "tmpfs", "append-128B-1", ours: 10, toFio: 2),
        line("threads", "tmpfs", "append-128B-1", ours: 10, toFio: 2),
        line("io-uring", "tmpfs", "append-128B-1", ours: 12, toFio: 3),
        line("threads", "tmpfs", "append-128B-1", ours: 10, toFio: 2),
    ]

    static var run: BenchRun { BenchRun(records: BenchRecord.parseAll(lines.joined(separator: "\n"))) }

    @Test func eachCellIsTheMedianOverRunsOfEachBackend() throws {
        let cells = BenchBackendCell.all(Self.run)
        #expect(cells.map(\.fileSystem) == ["ext4", "tmpfs"])
        let disk = try #require(cells.first)
        #expect(disk.ioUringRate == 90)
        #expect(disk.threadsRate == 70)
        #expect(disk.ioUringToFio == 9)
        #expect(disk.threadsToFio == 7)
        let shm = try #require(cells.last)
        #expect(shm.ioUringRate == 11)
        #expect(shm.threadsToIoUring.map { abs($0 - 10.0 / 11.0) < 1e-9 } == true)
    }

    @Test func theTargetsAreJudgedOnTheDiskCellAndTheWorstCell() throws {
        let targets = BenchTarget.backendTargets(Self.run)
        let floor = try #require(targets.first)
        #expect(floor.value.map { abs($0 - 70.0 / 90.0) < 1e-9 } == true)
        #expect(floor.verdict == .missed)
        // The worst cell for io_uring is the one where the threads come
        // closest: tmpfs (10 / 11) rather than the disk (70 / 90).
        let level = try #require(targets.last)
        #expect(level.measured.hasPrefix("tmpfs append-128B-1"))
        #expect(level.verdict == .met)
    }

    @Test func theReportHasTheTableAndNoSectionWithoutTheSuite() {
        let report = BenchReport(run: Self.run, chartsPath: "", charts: [], notes: nil)
        let section = report.backends().joined(separator: "\n")
        #expect(section.contains("## The two I/O backends"))
        #expect(section.contains("| ext4 | append-128B-64 | commits_per_s | 90.00 | 70.00 | 0.778 |"))
        let empty = BenchReport(run: BenchRun(records: []), chartsPath: "", charts: [], notes: nil)
        #expect(empty.backends().isEmpty)
        #expect(BenchTarget.backendTargets(BenchRun(records: [])).allSatisfy { $0.verdict == .notMeasured })
    }
}
