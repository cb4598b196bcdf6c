import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `kv get` and `kv scan` beside a `kv put --stdin` writer in another
/// process: read-only snapshots at durable LSNs, each a prefix of the puts.
@Suite struct KeyValueReadOnlyCLITests {
    static func key(_ i: Int) -> String { String(format: "k%06d", i) }

    /// One `kv scan --json`: its keys, and its summary line.
    static func scan(_ store: String, _ extra: [String] = []) throws -> (keys: [String], lsn: Int, readOnly: Bool) {
        let result = try CLI.run(["kv", "scan", "--store", store, "--json"] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        var keys: [String] = []
        var summary: [String: Any] = [:]
        for line in result.lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            if let key = object["key"] as? String { keys.append(key) } else { summary = object }
        }
        #expect(summary["keys"] as? Int == keys.count, "the summary counts the keys")
        return (keys, summary["lsn"] as? Int ?? -1, summary["readOnly"] as? Bool ?? false)
    }

    /// The writer puts k000001, k000002, ... one durable put each, with a
    /// checkpoint every 40 puts; scans in other processes while it runs are
    /// read-only, each exactly k000001 ... k00000n for an n that never
    /// decreases (and at least the puts acknowledged before the scan began),
    /// with an LSN that never decreases. A second writer is refused; `get`
    /// reads beside the writer. After the writer ends, a scan has every
    /// acknowledged key.
    @Test(.timeLimit(.minutes(10)))
    func scansBesideARunningPutStream() throws {
        guard let executable = Executable.journalctl else {
            Issue.record("journalctl-swift not found next to the test bundle")
            return
        }
        signal(SIGPIPE, SIG_IGN)
        let dir = TemporaryDirectory(on: .shm, "kv-readers-cli")
        let store = dir.path + "/store"
        let writer = try PutStream(executable, store: store, checkpointEvery: 40)
        var last = (n: 0, lsn: 0)
        func check(acknowledgedBefore: Int) throws {
            let s = try Self.scan(store)
            #expect(s.readOnly, "a writer holds the store: the scan reads beside it")
            #expect(s.keys == (0..<s.keys.count).map { Self.key($0 + 1) }, "a prefix of the puts")
            #expect(s.keys.count >= max(last.n, acknowledgedBefore), "never goes back, never misses an acknowledged put")
            #expect(s.lsn >= last.lsn)
            last = (s.keys.count, s.lsn)
        }
        var fed = 0
        for round in 0..<6 {
            try writer.feed(((fed + 1)...(fed + 50)).map { (Self.key($0), "value \($0)") })
            fed += 50
            if round % 2 == 0 { writer.awaitAcknowledged(fed) }
            try check(acknowledgedBefore: writer.acknowledged.count)
        }
        writer.awaitAcknowledged(fed)
        let second = try CLI.run(["kv", "put", "--store", store, "other", "1"])
        #expect(second.status == 75 && second.errorLine.contains("in use by another process"), "a second writer is refused: \(second.stderr)")
        let get = try CLI.run(["kv", "get", "--store", store, "--json", Self.key(fed)])
        #expect(get.status == 0, "\(get.stderr)")
        let object = try JSONSerialization.jsonObject(with: get.stdout) as? [String: Any] ?? [:]
        #expect(object["value"] as? String == "value \(fed)" && object["readOnly"] as? Bool == true && (object["lsn"] as? Int ?? 0) > 0)
        let missing = try CLI.run(["kv", "get", "--store", store, Self.key(fed + 1)])
        #expect(missing.status == 66)
        try check(acknowledgedBefore: fed)
        #expect(try writer.finish() == 0)
        let final = try Self.scan(store)
        #expect(!final.readOnly, "no writer: the store itself")
        #expect(final.keys.count == fed && final.keys.last == Self.key(fed))
        let explicit = try Self.scan(store, ["--read-only"])
        #expect(explicit.readOnly && explicit.keys == final.keys && explicit.lsn == final.lsn)
    }
}
