import Journal
import JournalCLISupport
import JournalPrimitives
import KeyValueStore
import PageStore

// `kv get` and `kv scan`: they open the store itself when no process holds
// it, and read-only beside the writer that does (or always, with
// `--read-only`): a snapshot at a durable LSN, which `--json` reports.

/// What `get` and `scan` read through: the store itself, or a read-only
/// snapshot of it.
protocol KVReadView {
    func get(_ key: [UInt8]) throws(KeyValueError) -> [UInt8]?
    func scan(from start: [UInt8]?, _ body: ([UInt8], [UInt8]) throws(KeyValueError) -> Bool) throws(KeyValueError)
}

extension KeyValueSnapshot: KVReadView {}

/// The store opened for writing, read at its durable LSN: the lock keeps
/// every other writer out, so nothing commits while the command reads.
private struct OwnedStoreView: KVReadView {
    let store: KeyValueStore
    func get(_ key: [UInt8]) throws(KeyValueError) -> [UInt8]? { try store.get(key) }
    func scan(from start: [UInt8]?, _ body: ([UInt8], [UInt8]) throws(KeyValueError) -> Bool) throws(KeyValueError) {
        try store.scan(from: start, body)
    }
}

extension KV.StoreOptions {
    /// Runs `body` on the store at one LSN: the store itself if no process
    /// holds it and `readOnly` is false, else a read-only snapshot beside
    /// the writer. Returns what `body` returns, the LSN it read at, and
    /// whether the read was read-only.
    func read<R>(readOnly: Bool, _ body: (any KVReadView) throws(KeyValueError) -> R) throws(CLIError) -> (result: R, lsn: LSN, readOnly: Bool) {
        let place = try location()
        do throws(KeyValueError) {
            if !readOnly {
                do throws(KeyValueError) {
                    let store = try KeyValueStore.open(location: place)
                    defer { store.close() }
                    let lsn = store.durableLSN
                    return (try body(OwnedStoreView(store: store)), lsn, false)
                } catch .store(.locked) {
                    // A writer runs: read beside it.
                }
            }
            let reader = try KeyValueStore.openReadOnly(location: place)
            defer { reader.close() }
            return try reader.withSnapshot { (s: KeyValueSnapshot) throws(KeyValueError) -> (R, LSN, Bool) in (try body(s), s.lsn, true) }
        } catch {
            throw CLIError.from(keyValue: error)
        }
    }
}

extension KV {
    /// `kv get`'s output: the value's line, or with `--json` one object
    /// with the key, the value (null when absent), the LSN and whether the
    /// read was read-only. An absent key exits 66 either way.
    static func printGet(key: String, value: [UInt8]?, lsn: LSN, readOnly: Bool, json: Bool) throws(CLIError) {
        let out = OutputBuffer(fd: 1)
        if json {
            let text = value.map { JSON.quote(escaped($0)) } ?? "null"
            out.write(JSON.object([("key", JSON.quote(key)), ("value", text), ("lsn", "\(lsn)"), ("readOnly", "\(readOnly)")]) + "\n")
        } else if let value {
            out.write(escaped(value) + "\n")
        }
        out.flush()
        guard value != nil else { throw CLIError(.notFound, "no such key: \(key)") }
    }

    /// `kv scan`: every pair from `from`, at most `limit`, one line each;
    /// with `--json` one object per pair and a last one with the LSN, the
    /// count and whether the read was read-only.
    static func runScan(options: StoreOptions, from: String?, limit: Int, readOnly: Bool, json: Bool) throws(CLIError) {
        let out = OutputBuffer(fd: 1)
        let (printed, lsn, wasReadOnly) = try options.read(readOnly: readOnly) { (view: any KVReadView) throws(KeyValueError) -> Int in
            var printed = 0
            try view.scan(from: from.map { Array($0.utf8) }) { k, v in
                if printed >= limit { return false }
                if json {
                    out.write(JSON.object([("key", JSON.quote(escaped(k))), ("value", JSON.quote(escaped(v)))]) + "\n")
                } else {
                    out.write(escaped(k) + "\t" + escaped(v) + "\n")
                }
                printed += 1
                return true
            }
            return printed
        }
        if json {
            out.write(JSON.object([("lsn", "\(lsn)"), ("keys", "\(printed)"), ("readOnly", "\(wasReadOnly)")]) + "\n")
        }
        out.flush()
    }

    /// `bytes` with the escapes of `replay`.
    static func escaped(_ bytes: [UInt8]) -> String {
        var line: [UInt8] = []
        bytes.withUnsafeBytes { PayloadText.escape($0, into: &line) }
        return String(decoding: line, as: UTF8.self)
    }
}

extension KV {
    /// `kv put --stdin`: one durable put per "<key><TAB><value>" line, the
    /// key printed (and flushed) once its put is durable; a checkpoint
    /// after every `checkpointEvery` puts.
    static func putStream(options: StoreOptions, checkpointEvery: Int?) throws(CLIError) {
        let kv = try options.open(create: true)
        defer { kv.close() }
        let out = OutputBuffer(fd: 1)
        var count = 0
        while let line = readLine(strippingNewline: true) {
            guard let tab = line.firstIndex(of: "\t") else { throw CLIError(.usage, "line \(count + 1): expected <key><TAB><value>") }
            let key = String(line[..<tab])
            do throws(KeyValueError) {
                try kv.put(Array(key.utf8), Array(line[line.index(after: tab)...].utf8))
                count += 1
                if let every = checkpointEvery, count % every == 0 { try kv.checkpoint() }
            } catch {
                throw CLIError.from(keyValue: error)
            }
            out.write(key + "\n")
            out.flush()
        }
    }
}
