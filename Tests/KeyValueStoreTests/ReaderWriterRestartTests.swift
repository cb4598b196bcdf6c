import Foundation
import Journal
import JournalFileStorage
import KeyValueStore
import PageStore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Key-value store: a reader in another process than a writer that is killed and restarted")
struct ReaderWriterRestartTests {
    static func key(_ prefix: String, _ i: Int) -> String { prefix + String(format: "%06d", i) }

    /// The reader's keys, checked to be k000001...k(a) then m000001...m(b):
    /// a prefix of each writer's puts. Returns (a, b).
    static func prefixes(_ reader: KeyValueStoreReader) throws -> (Int, Int) {
        let keys = try reader.withSnapshot { s throws(KeyValueError) -> [String] in
            var keys: [String] = []
            try s.scan { k, v in
                keys.append(String(decoding: k, as: UTF8.self))
                #expect(v == Array("value of \(keys.last ?? "")".utf8))
                return true
            }
            return keys
        }
        let a = keys.prefix { $0.hasPrefix("k") }.count
        let b = keys.count - a
        #expect(keys == (0..<a).map { key("k", $0 + 1) } + (0..<b).map { key("m", $0 + 1) }, "a prefix of each writer's puts")
        return (a, b)
    }

    /// A reader following the store (`updates()`) while a `kv put --stdin`
    /// writer is SIGKILLed mid-stream and another is started: every state it
    /// shows is a prefix of the first writer's puts, then of the second's,
    /// never going back; it reaches every put the killed writer acknowledged
    /// before any other writer runs (the writer publishes a durable LSN
    /// before it acknowledges what it covers), then follows the second
    /// writer without being reopened, to its last put.
    @Test(.timeLimit(.minutes(10)))
    func readerFollowsThroughAWriterKillAndRestart() async throws {
        guard let executable = Executable.journalctl else {
            Issue.record("journalctl-swift not found next to the test bundle")
            return
        }
        signal(SIGPIPE, SIG_IGN)
        let dir = TemporaryDirectory(on: .shm, "kv-reader-restart")
        let store = dir.path + "/store"
        let first = try PutStream(executable, store: store, checkpointEvery: 40)
        try first.feed((1...400).map { Self.key("k", $0) }.map { ($0, "value of \($0)") })
        first.awaitAcknowledged(60)
        var fs = FileSystemStorage.Options()
        fs.directIO = false
        var options = PageStoreReadOptions()
        options.store.logger.logLevel = .warning
        let reader = try KeyValueStore.openReadOnly(location: try PageStoreLocation.directory(path: store, options: fs), options: options)
        defer { reader.close() }
        var (a, b) = try Self.prefixes(reader)
        #expect(a >= 60 && b == 0)
        first.awaitAcknowledged(120)
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        first.awaitAcknowledged(400)
        let acknowledged = first.acknowledged.count
        #expect(acknowledged >= 120 && acknowledged < 400, "killed mid-stream")
        // The dead writer published every put it acknowledged: the reader
        // reaches them with no writer running.
        try reader.refresh()
        var updates = try reader.updates().makeAsyncIterator()
        while true {
            let now = try Self.prefixes(reader)
            #expect(now.0 >= a && now.1 == 0, "never going back")
            (a, b) = now
            guard a < acknowledged, try await updates.next() != nil else { break }
        }
        #expect(a >= acknowledged, "every put the killed writer acknowledged, before a writer restarts")
        let second = try PutStream(executable, store: store, checkpointEvery: 40)
        try second.feed((1...150).map { Self.key("m", $0) }.map { ($0, "value of \($0)") })
        while b < 150 {
            guard try await updates.next() != nil else { break }
            let now = try Self.prefixes(reader)
            #expect(now.0 >= a && now.1 >= b, "never goes back")
            (a, b) = now
        }
        #expect(b == 150, "the reader reached the second writer's last put")
        second.awaitAcknowledged(150)
        #expect(second.acknowledged.count == 150)
        #expect(try second.finish() == 0)
    }
}
