import Foundation
import Testing
@testable import JournalBench

/// The report of `bench all`, drawn from fixed result lines (no benchmark
/// runs here): tables, ratios, target verdicts and the gnuplot script.
@Suite struct BenchReportTests {
    static let lines = [
        #"{"suite":"meta","command":"journalctl-swift bench all","date":"2026-01-02T03:04:05Z","commit":"abc123","cpu":"Test CPU","cores":2,"ram_gib":24,"kernel":"Linux 6.1","quick":false,"rounds":3,"seconds":3}"#,
        #"{"suite":"status","name":"append-disk","dir":"/data/bench/append","file_system":"ext4 (/dev/vda, rw)","state":"ran","seconds":300,"command":"journalctl-swift bench append --json"}"#,
        // 64 appenders: 10x fio QD1 (met), 10x SQLite FULL (missed).
        #"{"suite":"append-disk","cell":"append-128B-64","metric":"commits_per_s","api":"blocking","appenders":64,"record_bytes":128,"file_system":"ext4","rounds":3,"seconds":3,"ours":40000,"ours_min":38000,"ours_max":41000,"ours_p50_us":1500,"ours_p99_us":3000,"fio_qd1":4000,"fio_qd1_min":3900,"fio_qd1_max":4100,"fio_qd1_p50_us":200,"fio_qd1_p99_us":900,"fio_qd4":12000,"ratio_qd1":10,"ratio_qd1_paired_min":9,"ratio_qd1_paired_max":11,"pwrite":20000,"pwrite_p50_us":3000,"pwrite_p99_us":6000,"sqlite_full":4000,"sqlite_full_p50_us":15000,"sqlite_full_p99_us":40000,"sqlite_normal":50000,"met":true}"#,
        // One appender: p99 1.2x fio's (met, a bound from above).
        #"{"suite":"append-disk","cell":"append-128B-1","metric":"commits_per_s","api":"blocking","appenders":1,"record_bytes":128,"ours":5000,"ours_p50_us":180,"ours_p99_us":1200,"fio_qd1":6000,"fio_qd1_p99_us":1000,"fio_qd4":15000,"sqlite_full":5000,"met":true}"#,
        // 1 MiB: 900 over the better fio (1000): 0.9, met.
        #"{"suite":"append-disk","cell":"append-1MiB-4","metric":"mb_per_s","api":"blocking","appenders":4,"record_bytes":1048576,"ours":900,"fio_qd1":800,"fio_qd4":1000,"pwrite":600}"#,
        #"{"suite":"append-shm","cell":"append-128B-64","metric":"commits_per_s","api":"async","appenders":64,"record_bytes":128,"ours":1200000,"fio_qd1":150000,"fio_qd4":250000}"#,
        #"{"suite":"replay","bench":"replay","record_bytes":4096,"records":262144,"log_bytes":1100000000,"file_system":"ext4","rounds":3,"iterate_gbps":0.7,"open_gbps":0.5,"restart_gbps":0.4,"fio_gbps":1.0,"fio_bs":1048576,"fio_iodepth":8,"fio_iodepths":"1,8","fio_qd1_gbps":0.8,"fio_qd8_gbps":1.0,"ratio":0.7,"resident_before_max":0}"#,
        #"{"suite":"pagedfile","cell":"overwrite-4MiB-1w","paged_gbps":9.6,"flat_gbps":10,"ratio":0.96}"#,
        #"{"suite":"pagedfile","cell":"overwrite-4MiB-2w","paged_gbps":9.4,"flat_gbps":10,"ratio":0.94}"#,
        #"{"suite":"pagedfile","cell":"first-touch-4MiB-1w","paged_gbps":1.7,"flat_gbps":2,"ratio":0.85}"#,
        #"{"suite":"kv","bench":"kv","writers":64,"puts_per_s":12000,"sqlite_puts_per_s":1000,"rocksdb_puts_per_s":8000,"ratio":12,"gets_per_s":100000,"sqlite_gets_per_s":200000,"rocksdb_gets_per_s":300000}"#,
        // One writer: 0.9x RocksDB (missed), 1.2x SQLite (met).
        #"{"suite":"kv","bench":"kv","writers":1,"puts_per_s":1200,"sqlite_puts_per_s":1000,"rocksdb_puts_per_s":1333,"gets_per_s":100000,"sqlite_gets_per_s":200000,"rocksdb_gets_per_s":300000}"#,
        #"{"suite":"kv","bench":"kv-recovery","puts":10000,"recovery_ms":12.5}"#,
        #"{"suite":"cpu","cell":"append-128B-batch-64","instructions":1234,"baseline":1200,"change":0.0283,"status":"regression","batch":64,"records":[2048,6144]}"#,
        #"{"suite":"cpu","note":"something else"}"#,
        #"{"suite":"micro","text":"encode 128 B   p50 41 ns"}"#,
        #"{"suite":"micro","cell":"encode-128B","metric":"wallClock","unit":"ns","p25":21,"p50":32,"baseline_p25":20,"baseline_p50":20,"change":0.0500,"status":"ok"}"#,
        #"{"suite":"status","name":"micro","state":"skipped","reason":"not in --quick"}"#,
    ]

    static var run: BenchRun { BenchRun(records: BenchRecord.parseAll(lines.joined(separator: "\n"))) }

    func verdict(_ what: String) -> BenchTarget.Verdict? {
        BenchTarget.all(Self.run).first { $0.what.contains(what) }?.verdict
    }

    @Test func everyLineParses() {
        #expect(Self.run.records.count == Self.lines.count)
        // 1 is a number, not true.
        #expect(Self.run.suite("pagedfile").count == 3)
        #expect(Self.run.meta?.integer("cores") == 2)
        #expect(Self.run.meta?.bool("quick") == false)
        #expect(Self.run.meta?.bool("cores") == nil)
    }

    @Test func targetsAreJudgedFromTheMedians() throws {
        let targets = BenchTarget.all(Self.run)
        let fio = try #require(targets.first { $0.what.contains("vs fio QD1 4 KiB IOPS") })
        #expect(fio.value == 10)
        #expect(fio.verdict == .met)
        #expect(verdict("SQLite WAL synchronous=FULL commits/s") == .missed)
        #expect(verdict("1 MiB durable appends") == .met)
        #expect(verdict("Single appender p99") == .met)
        #expect(verdict("/dev/shm") == .met)
        #expect(verdict("Replay") == .missed)
        #expect(verdict("overwrite cells") == .missed)
        #expect(verdict("first-touch cells") == .met)
        #expect(verdict("read cells") == .notMeasured)
        #expect(verdict("Key-value puts") == .met)
        #expect(verdict("Key-value puts, 1 writer, vs RocksDB") == .missed)
        #expect(verdict("Key-value puts, 1 writer, vs SQLite") == .met)
        #expect(verdict("Key-value puts, 64 writers, vs RocksDB") == .missed)
    }

    @Test func aMissingSuiteIsNotMeasured() {
        let run = BenchRun(records: Self.run.records.filter { $0.suite != "append-disk" })
        let targets = BenchTarget.all(run).filter { $0.what.contains("(disk)") }
        #expect(targets.count == 4)
        #expect(targets.allSatisfy { $0.verdict == .notMeasured })
    }

    @Test func theMarkdownHasEveryCellRatioAndVerdict() {
        let charts = BenchChart.all(Self.run)
        let md = BenchReport(run: Self.run, chartsPath: "Docs/bench", charts: charts, notes: "Why: the disk.").markdown
        #expect(md.hasPrefix("# Benchmarks"))
        #expect(!md.contains("Quick pass"))
        #expect(md.contains("| CPU | Test CPU |"))
        #expect(md.contains("`/data/bench/append`: ext4 (/dev/vda, rw)"))
        // Medians with ranges, and ratios to each peer.
        #expect(md.contains("| append-128B-64 | 64 | 40000 [38000-41000] | 4000 [3900-4100] | 12000 | 20000 | 4000 | 50000 |"))
        #expect(md.contains("| append-128B-64 | 10.00x [9.000-11.00] | 3.333x | 2.000x | 10.00x | 0.800x |"))
        #expect(md.contains("| append-1MiB-4 | 900.0 | - | 800.0 | 1000 | 600.0 | 0.900 | 1.500x |"))
        // The targets table.
        #expect(md.contains("| >= 8x | 40000 commits/s vs fio QD1 4000 IOPS (append-128B-64) | 10.00 | met |"))
        #expect(md.contains("| >= 15x | 40000 commits/s vs SQLite FULL 4000 commits/s (append-128B-64) | 10.00 | **missed** |"))
        #expect(md.contains("| overwrite-4MiB-2w | 9.400 | 10.00 | 0.940 | >= 0.950: **missed** |"))
        #expect(md.contains("| 64 | 12000 | 1000 | 8000 | 12.00 | 1.500 | 100000 | 200000 | 300000 |"))
        #expect(md.contains("| fio --rw=read --direct=1 --ioengine=io_uring --iodepth=1 | 0.800 | journal iterate: 0.875 |"))
        #expect(md.contains("| fio --rw=read --direct=1 --ioengine=io_uring --iodepth=8 | 1.000 | journal iterate: 0.700 |"))
        // Suites the report does not know: a table of their fields, text in a block.
        #expect(md.contains("| append-128B-batch-64 | 64 | 1234 | 1200 | +2.8% | regression |"))
        #expect(md.contains("| note |\n|---|\n| something else |"))
        #expect(md.contains("encode 128 B   p50 41 ns"))
        #expect(md.contains("| encode-128B | wallClock | 32.00 ns | 20.00 | +5.0% | ok |"))
        #expect(md.contains("| micro | skipped | - | - | not in --quick |"))
        // Charts are linked; the closing note is kept.
        #expect(md.contains("(Docs/bench/append-disk-throughput.png)"))
        #expect(md.contains("## Closing note\n\nWhy: the disk."))
    }

    @Test func aQuickRunSaysSo() {
        var records = Self.run.records
        records[0].fields["quick"] = true
        let md = BenchReport(run: BenchRun(records: records), chartsPath: "", charts: [], notes: nil).markdown
        #expect(md.contains("Quick pass (`--quick`)"))
        #expect(!md.contains("!["))
    }

    @Test func theGnuplotScriptDrawsEveryChartFromItsData() throws {
        let charts = BenchChart.all(Self.run)
        #expect(Set(charts.map(\.name)) == [
            "append-disk-throughput", "append-disk-latency", "append-disk-bandwidth",
            "append-shm-throughput", "append-shm-latency", "pagedfile", "kv", "replay",
        ])
        let script = BenchChart.script(charts, terminal: "pngcairo")
        #expect(script.contains("set terminal pngcairo"))
        for chart in charts {
            #expect(script.contains("set output \"\(chart.name).png\""))
            #expect(chart.plot.contains("\"\(chart.name).dat\""))
        }
        let replay = try #require(charts.first { $0.name == "replay" })
        #expect(replay.data.contains("\"fio read direct QD8\" 1\n"))
        let throughput = try #require(charts.first { $0.name == "append-disk-throughput" })
        // Appenders ascending; a peer that did not run is missing ("?").
        #expect(throughput.data == """
            # appenders ours fio_qd1 fio_qd4 pwrite sqlite_full sqlite_normal
            1 5000 6000 15000 ? 5000 ?
            64 40000 4000 12000 20000 4000 50000

            """)
        #expect(BenchChart.script(charts, terminal: "png").contains("set terminal png size"))
    }

    @Test func resultLinesAreTaggedWithTheirSuite() throws {
        let tagged = BenchRecord.tag(#"{"cell": "x", "ours": 1}"#, suite: "append-shm")
        let record = try #require(BenchRecord.parse(tagged))
        #expect(record.suite == "append-shm")
        #expect(record.string("cell") == "x")
        #expect(record.number("ours") == 1)
        let own = #"{"suite":"cpu","instructions":5}"#
        #expect(BenchRecord.tag(own, suite: "cpu") == own)
        let text = try #require(BenchRecord.parse(BenchRecord.tag("name  time \"quoted\"", suite: "micro")))
        #expect(text.text == "name  time \"quoted\"")
        #expect(BenchRecord.parse("not json") == nil)
    }

    @Test func chartsAreLinkedRelativeToTheReport() {
        #expect(relativePath(from: "/repo/BENCHMARKS.md", to: "/repo/Docs/bench") == "Docs/bench")
        #expect(relativePath(from: "/repo/BENCHMARKS.md", to: "/repo") == "")
        #expect(relativePath(from: "/repo/out/BENCHMARKS.md", to: "/elsewhere/charts") == "/elsewhere/charts")
    }
}

/// fio's figures are read from its JSON output.
@Suite struct FioOutputTests {
    static let output = #"""
        note: both iodepth >= 1 and synchronous I/O engine are selected
        {"jobs": [{"error": 0,
          "write": {"iops": 5000.5, "bw_bytes": 20482048,
            "clat_ns": {"percentile": {"50.000000": 262, "99.000000": 900, "99.900000": 1000}},
            "lat_ns": {"percentile": {"50.000000": 5856, "99.000000": 72192, "99.900000": 90000}}},
          "read": {"iops": 10, "bw_bytes": 1000000000}}]}
        """#

    @Test func latencyIsFromSubmissionToCompletion() throws {
        let round = try FioRunner.parse(Data(Self.output.utf8))
        #expect(round.iops == 5000.5)
        #expect(round.megabytesPerSecond == 20.482048)
        // Not clat: io_uring may complete a write inline while submitting it.
        #expect(round.latency.p50 == 5856)
        #expect(round.latency.p99 == 72192)
        #expect(round.latency.p999 == 90000)
    }

    @Test func readsAreReadFromTheReadSection() throws {
        let round = try FioRunner.parse(Data(Self.output.utf8), direction: "read")
        #expect(round.bytesPerSecond == 1e9)
        #expect(throws: BenchError.self) { try FioRunner.parse(Data(Self.output.utf8), direction: "trim") }
    }
}
