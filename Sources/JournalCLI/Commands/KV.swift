import ArgumentParser
import Journal
import JournalCLISupport
import JournalFileStorage
import JournalStorage
import KeyValueStore
import PageStore

/// `journalctl-swift kv put|get|delete|scan --store DIR`: the key-value
/// store on the page store, whose commit log is a journal in DIR/journal.
struct KV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Put, get, delete and scan keys in a key-value store (a B+tree on the page store).",
        discussion: """
            The store directory holds store.meta, two snapshot slots (snapshot-0.pss, \
            snapshot-1.pss) and the journal in DIR/journal. `put` and `delete` return once \
            durable. `put` creates the store when DIR holds none. Keys and values are taken as \
            UTF-8 text and printed with the escapes of `replay`. With `--cluster`, `put`, `get` \
            and `delete` speak to a replicated cluster that `kv serve` runs (Docs/cli.md).
            """,
        subcommands: [Put.self, Get.self, Delete.self, Scan.self, Checkpoint.self, Serve.self, Member.self, Bench.self])

    struct StoreOptions: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("The store directory.", valueName: "dir"))
        var store: String = "./data/kv"

        @OptionGroup var flags: StorageFlags

        var verbose: Bool { flags.verbose }

        func location(create: Bool = false) throws(CLIError) -> PageStoreLocation {
            do { return try PageStoreLocation.directory(path: store, options: flags.storageOptions(), create: create) } catch {
                throw CLIError.from(keyValue: .store(error))
            }
        }

        func open(create: Bool) throws(CLIError) -> KeyValueStore {
            let location = try location(create: create)
            do throws(KeyValueError) {
                if create, (try? location.root.fileNames().contains("store.meta")) != true {
                    try KeyValueStore.create(location: location)
                }
                return try KeyValueStore.open(location: location)
            } catch {
                throw CLIError.from(keyValue: error)
            }
        }
    }

    struct Put: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a key to a value (durable when it returns).",
            discussion: """
                With --stdin, reads "<key><TAB><value>" lines and puts each in its own durable \
                put, printing the key on a line of its own once it is durable, until end of input.
                """)
        @OptionGroup var options: StoreOptions
        @OptionGroup var clusterOptions: ClusterOptions
        @Flag(help: "Put the \"<key><TAB><value>\" lines of standard input, one durable put each.")
        var stdin = false
        @Option(help: "With --stdin: write a checkpoint after every N puts.")
        var checkpointEvery: Int?
        @Argument var key: String?
        @Argument var value: String?
        var verbose: Bool { options.verbose }

        func validate() throws {
            if stdin {
                guard key == nil && value == nil else { throw ValidationError("--stdin takes no key or value") }
                guard (checkpointEvery ?? 1) >= 1 else { throw ValidationError("--checkpoint-every must be at least 1") }
            } else {
                guard key != nil && value != nil else { throw ValidationError("put needs a key and a value (or --stdin)") }
                guard checkpointEvery == nil else { throw ValidationError("--checkpoint-every needs --stdin") }
            }
        }

        func run() throws {
            if stdin { return try KV.putStream(options: options, checkpointEvery: checkpointEvery) }
            guard let key, let value else { throw CLIError(.usage, "put needs a key and a value") }
            if let cluster = clusterOptions.client() { return try ClusterArgument.put(cluster(), key: key, value: value) }
            let kv = try options.open(create: true)
            defer { kv.close() }
            do { try kv.put(Array(key.utf8), Array(value.utf8)) } catch { throw CLIError.from(keyValue: error) }
        }
    }

    struct Get: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(abstract: "Print a key's value; exit 66 when the key is absent.")
        @OptionGroup var options: StoreOptions
        @OptionGroup var clusterOptions: ClusterOptions
        @Flag(help: "Read a snapshot beside a writer even when none holds the store (without it: only when one does).")
        var readOnly = false
        @Flag(help: "Print one JSON object: key, value (null when absent), the LSN read at, and whether read-only.")
        var json = false
        @Argument var key: String
        var verbose: Bool { options.verbose }

        func run() throws {
            if let cluster = clusterOptions.client() { return try ClusterArgument.get(cluster(), key: key) }
            let read = try options.read(readOnly: readOnly) { (view: any KVReadView) throws(KeyValueError) -> [UInt8]? in try view.get(Array(key.utf8)) }
            try KV.printGet(key: key, value: read.result, lsn: read.lsn, readOnly: read.readOnly, json: json)
        }
    }

    struct Delete: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key (durable when it returns); exit 66 when it was absent.")
        @OptionGroup var options: StoreOptions
        @OptionGroup var clusterOptions: ClusterOptions
        @Argument var key: String
        var verbose: Bool { options.verbose }

        func run() throws {
            if let cluster = clusterOptions.client() { return try ClusterArgument.delete(cluster(), key: key) }
            let kv = try options.open(create: false)
            defer { kv.close() }
            let removed: Bool
            do { removed = try kv.delete(Array(key.utf8)) } catch { throw CLIError.from(keyValue: error) }
            if !removed { throw CLIError(.notFound, "no such key: \(key)") }
        }
    }

    struct Scan: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(abstract: "Print \"<key><TAB><value>\" lines in key order, from one snapshot.")
        @OptionGroup var options: StoreOptions
        @Option(help: "First key to print (default: the smallest).") var from: String?
        @Option(help: "Most lines to print.") var limit: Int?
        @Flag(help: "Read a snapshot beside a writer even when none holds the store (without it: only when one does).")
        var readOnly = false
        @Flag(help: "One JSON object per pair, then one with the LSN read at, the count, and whether read-only.")
        var json = false
        var verbose: Bool { options.verbose }

        func run() throws {
            try KV.runScan(options: options, from: from, limit: limit ?? .max, readOnly: readOnly, json: json)
        }
    }

    struct Checkpoint: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(abstract: "Write a snapshot and truncate the journal behind it.")
        @OptionGroup var options: StoreOptions
        var verbose: Bool { options.verbose }

        func run() throws {
            let kv = try options.open(create: false)
            defer { kv.close() }
            let report: CheckpointReport
            do { report = try kv.checkpoint() } catch { throw CLIError.from(keyValue: error) }
            print("checkpoint at LSN \(report.lsn) in slot \(report.slot): \(report.pageCount) pages, \(report.segmentsReleased) journal segments released")
        }
    }
}

extension CLIError {
    /// The CLI's reading of a key-value store error.
    static func from(keyValue error: KeyValueError) -> CLIError {
        switch error {
        case .store(let e):
            switch e {
            case .journal(let j): return CLIError(j)
            case .io(let s): return CLIError(s)
            case .dataFile: return CLIError(.ioError, error.description)
            case .alreadyExists: return CLIError(.cannotCreate, error.description)
            case .notAStore: return CLIError(.notFound, error.description)
            case .locked: return CLIError(.locked, error.description)
            case .newerFormat: return CLIError(.configuration, error.description)
            case .corruption, .journalDoesNotCoverSnapshot: return CLIError(.corruption, error.description)
            case .pageOutOfRange, .wrongPageSize, .transactionTooLarge, .invalidArgument: return CLIError(.usage, error.description)
            case .conflict, .transactionFinished, .closed, .readerOvertaken: return CLIError(.ioError, error.description)
            }
        case .keyTooLarge, .entryTooLarge: return CLIError(.usage, error.description)
        case .corruption: return CLIError(.corruption, error.description)
        case .newerFormat: return CLIError(.configuration, error.description)
        }
    }
}
