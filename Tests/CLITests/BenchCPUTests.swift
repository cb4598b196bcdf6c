import Foundation
import Testing

/// `bench cpu`, the driver that Tools/bench/callgrind-append.sh counts the
/// instructions of: it appends exactly what it is asked, one pump per batch,
/// and cleans up after itself.
@Suite struct BenchCPUTests {
    @Test func appendsInWholeBatchesAndCleansUp() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let r = try CLI.run(["bench", "cpu", "--batch", "4", "--records", "12", "--warmup-records", "5", "--segment-mib", "1", "--dir", scratch.root])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data((r.lines.first ?? "").utf8)) as? [String: Any])
        #expect(object["suite"] as? String == "cpu-driver")
        #expect(object["batch"] as? Int == 4)
        #expect(object["records"] as? Int == 12)
        // The warm-up rounds up to whole batches.
        #expect(object["warmup_records"] as? Int == 8)
        // One pump per batch: every pump that submits also waits for its write.
        #expect(object["pumps"] as? Int == 3)
        #expect(object["valgrind"] as? Bool == false)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.root).isEmpty, "the temporary journal is removed")
    }

    /// The API cells: every record appended through `appendBlocking` or
    /// `append` (async), each durable on return (the driver checks the
    /// durable LSN), no pumps needed where the writes go inline.
    @Test(arguments: ["blocking", "async"])
    func appendsThroughEachAPI(api: String) throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let object = try twentyRecords(api: api, dir: scratch.root)
        #expect(object["pumps"] as? Int == 0)
        let refused = try CLI.run(["bench", "cpu", "--api", api, "--batch", "4", "--records", "8", "--dir", scratch.root])
        #expect(refused.status == 64)
    }

    /// `bench cpu --api api` over 20 records: its JSON line, after checking
    /// the exit status, the API and the record count.
    private func twentyRecords(api: String, dir: String, extra: [String] = []) throws -> [String: Any] {
        let r = try CLI.run(["bench", "cpu", "--api", api, "--records", "20", "--warmup-records", "4", "--segment-mib", "1", "--dir", dir] + extra)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data((r.lines.first ?? "").utf8)) as? [String: Any])
        #expect(object["api"] as? String == api)
        #expect(object["records"] as? Int == 20)
        return object
    }

    /// The threaded cells: every record appended through the I/O thread of
    /// a journal in its threaded runtime, durable on return.
    @Test(arguments: ["blocking-threaded", "async-threaded"])
    func appendsInTheThreadedRuntime(api: String) throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let object = try twentyRecords(api: api, dir: scratch.root)
        #expect(object["valgrind"] as? Bool == false)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.root).isEmpty, "the temporary journal is removed")
    }

    /// The many-task threaded cell: the records shared among the tasks,
    /// every one durable (the driver checks the durable LSN); a task count
    /// that does not divide the records, or without the async API, is refused.
    @Test func appendsFromManyTasks() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        let object = try twentyRecords(api: "async-threaded", dir: scratch.root, extra: ["--tasks", "4"])
        #expect(object["tasks"] as? Int == 4)
        for refused in [["--api", "async-threaded", "--tasks", "3"], ["--api", "blocking-threaded", "--tasks", "4"]] {
            let r = try CLI.run(["bench", "cpu", "--records", "20", "--warmup-records", "4", "--dir", scratch.root] + refused)
            #expect(r.status == 64, "\(refused): stderr: \(r.stderr)")
        }
    }

    /// The key-value cell: durable puts, and the record bytes per put,
    /// which page deltas keep far below the two whole pages of a put.
    @Test func putsIntoAKeyValueStore() throws {
        let scratch = try Scratch(base: "/dev/shm")
        defer { scratch.remove() }
        var bytes: [Int] = []
        for flags in [[], ["--whole-pages"]] {
            let r = try CLI.run(["bench", "cpu", "--api", "kv-put", "--records", "40", "--warmup-records", "8", "--segment-mib", "4", "--dir", scratch.root] + flags)
            #expect(r.status == 0, "stderr: \(r.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data((r.lines.first ?? "").utf8)) as? [String: Any])
            #expect(object["api"] as? String == "kv-put")
            #expect(object["records"] as? Int == 40)
            bytes.append(try #require(object["record_bytes_per_put"] as? Int))
        }
        #expect(bytes[0] < 2048 && bytes[1] > 8192, "record bytes per put, deltas then whole pages: \(bytes)")
    }

    @Test func refusesRecordsThatAreNotWholeBatches() throws {
        let r = try CLI.run(["bench", "cpu", "--batch", "4", "--records", "10", "--dir", "/dev/shm"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--records"), "stderr: \(r.stderr)")
    }
}
