import Foundation
import Testing
@testable import JournalBench

/// The async API beside the blocking one on tmpfs (the `blocking` peer of
/// `bench append`): the option, `bench all`'s plan, the report's column and
/// the target's verdict, drawn from recorded lines (no benchmark runs here).
@Suite struct BenchAsyncLatencyTests {
    static func shmLine(p50: Double, blockingP50: Double) -> String {
        #"{"suite":"append-shm","cell":"append-128B-1","metric":"commits_per_s","api":"async","appenders":1,"record_bytes":128,"ours":250000,"ours_p50_us":\#(p50),"ours_p99_us":6,"fio_qd1":150000,"fio_qd4":250000,"blocking":280000,"blocking_p50_us":\#(blockingP50),"blocking_p99_us":5,"ratio_blocking":0.89,"p50_ratio_blocking":\#(p50 / blockingP50)}"#
    }

    static let diskLine = #"{"suite":"append-disk","cell":"append-128B-1","metric":"commits_per_s","api":"blocking","appenders":1,"record_bytes":128,"ours":5000,"ours_p50_us":180,"ours_p99_us":1200,"fio_qd1":6000,"fio_qd1_p99_us":1000,"fio_qd4":15000}"#

    static func run(_ lines: [String]) -> BenchRun {
        BenchRun(records: BenchRecord.parseAll(lines.joined(separator: "\n")))
    }

    static func target(_ lines: [String]) -> BenchTarget? {
        BenchTarget.all(run(lines)).first { $0.what.contains("1 async appender") }
    }

    @Test func theTargetIsTheRatioOfTheP50sOfTheSameRounds() throws {
        let met = try #require(Self.target([Self.shmLine(p50: 4, blockingP50: 3)]))
        #expect(met.verdict == .met)
        #expect(abs((met.value ?? 0) - 4.0 / 3) < 1e-9)
        #expect(met.measured.contains("vs"))
        #expect(met.goal == "<= 2x")
        let missed = try #require(Self.target([Self.shmLine(p50: 90, blockingP50: 3)]))
        #expect(missed.verdict == .missed)
        #expect(Self.target([])?.verdict == .notMeasured)
        // A run without the blocking peer measured nothing to judge.
        let alone = #"{"suite":"append-shm","cell":"append-128B-1","metric":"commits_per_s","api":"async","appenders":1,"record_bytes":128,"ours":250000,"ours_p50_us":4}"#
        #expect(Self.target([alone])?.verdict == .notMeasured)
    }

    @Test func theReportShowsTheBlockingAPIOnlyWhereItRan() {
        let report = BenchReport(run: Self.run([Self.shmLine(p50: 4, blockingP50: 3), Self.diskLine]), chartsPath: "", charts: [], notes: nil)
        let shm = report.appendSection(BenchSuiteName.appendShm, "tmpfs").joined(separator: "\n")
        #expect(shm.contains("blocking API"))
        #expect(shm.contains("280,000") || shm.contains("280000"))
        let disk = report.appendSection(BenchSuiteName.appendDisk, "disk").joined(separator: "\n")
        #expect(!disk.isEmpty && !disk.contains("blocking API"))
    }

    @Test func theBlockingPeerNeedsTheAsyncAPI() throws {
        #expect(throws: (any Error).self) { try BenchAppend.parse(["--peers", "blocking"]) }
        #expect(throws: (any Error).self) { try BenchAppend.parse(["--api", "async", "--peers", "blocking,fsync"]) }
        let ok = try BenchAppend.parse(["--api", "async", "--peers", "pwrite,blocking"])
        #expect(ok.peerList == ["pwrite", "blocking"])
    }

    @Test func bench_allRunsTheBlockingPeerOnTmpfsOnly() throws {
        let all = try BenchAll.parse(["--quick", "--dir", "d", "--shm-dir", "s"])
        let shm = all.plan(BenchSuiteName.appendShm, executable: "e").arguments
        let peers = try #require(shm.firstIndex(of: "--peers"))
        #expect(shm[peers + 1] == "pwrite,sqlite,blocking")
        #expect(shm.contains("async"))
        #expect(!all.plan(BenchSuiteName.appendDisk, executable: "e").arguments.contains("--peers"))
    }
}
