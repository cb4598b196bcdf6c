internal import CValgrind
import Foundation
@_spi(Testing) import Journal
import JournalCLISupport
import JournalPrimitives
import JournalFileStorage
import JournalStorage
import KeyValueStore
import Logging
import PageStore

// The key-value cell of `bench cpu` (`--api kv-put`): one writer's durable
// puts of 100-byte values on a key-value store, each its own page-store
// transaction and journal record, in the manual runtime over the same
// waiting storage as the journal cells, so the count does not depend on
// timing. It counts what a lone put costs the CPU end to end: the B+tree
// edit, the page deltas and the record, the journal's write and its
// completion, the table update. Automatic checkpoints are off (their cost
// would land in one run and not the other); applies run inline at their
// threshold, as they do in a store.

extension BenchCPU {
    /// Bytes of each value `--api kv-put` writes.
    static let kvValueBytes = 100

    func runKeyValuePuts() throws {
        let temp = try makeTemporaryDirectory(under: dir)
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let kv = try openKeyValueStore(temp)
        defer { kv.close() }
        let value = [UInt8](repeating: 0x61, count: Self.kvValueBytes)
        // Keys made before the loop: their formatting is not the store's cost.
        let warmupKeys = (0..<warmupRecords).map { Array("warm:\($0)".utf8) }
        let keys = (0..<records).map { Array("w0:\($0)".utf8) }
        do {
            for k in warmupKeys { try kv.put(k, value) }
        } catch { throw CLIError(.ioError, "bench cpu: \(error)") }
        let before = kv.statistics.pageStore
        let start = monotonicNanos()
        cjournal_callgrind_start()
        let failure: KeyValueError? = {
            do throws(KeyValueError) {
                for k in keys { try kv.put(k, value) }
                return nil
            } catch { return error }
        }()
        cjournal_callgrind_stop()
        let nanos = monotonicNanos() - start
        if let failure { throw CLIError(.ioError, "bench cpu: \(failure)") }
        let after = kv.statistics.pageStore
        guard after.journalSegmentCount == before.journalSegmentCount else {
            throw CLIError(.usage, "the measured puts crossed a segment boundary: raise --segment-mib or lower --records")
        }
        let recordBytes = (after.committedRecordBytes - before.committedRecordBytes) / records
        let underValgrind = cjournal_running_on_valgrind() != 0
        print("{\"suite\":\"cpu-driver\",\"api\":\"\(api.rawValue)\",\"batch\":1,\"records\":\(records),\"value_bytes\":\(Self.kvValueBytes),\"whole_pages\":\(wholePages),\"record_bytes_per_put\":\(recordBytes),\"warmup_records\":\(warmupRecords),\"valgrind\":\(underValgrind),\"nanoseconds\":\(nanos)}")
    }

    /// A fresh store in `path`, over `WaitingStorage`, in the manual runtime.
    private func openKeyValueStore(_ path: String) throws -> KeyValueStore {
        var storageOptions = FileSystemStorage.Options()
        storageOptions.createDirectory = true
        let location: PageStoreLocation
        do { location = PageStoreLocation(sharing: WaitingStorage(try FileSystemStorage(path: path + "/store", options: storageOptions))) } catch {
            throw CLIError(error)
        }
        var configuration = PageStoreConfiguration()
        configuration.journal.segmentBytes = segmentMib << 20
        // The default maximum (4 MiB), unless a small segment cannot hold it.
        configuration.journal.recordBytesMax = min(configuration.journal.recordBytesMax, configuration.journal.segmentBytes / 2)
        var options = PageStoreOptions()
        options.journal.runtime = .manual
        options.checkpointThresholdJournalBytes = nil
        options.journalPageDeltas = !wholePages
        var logger = Logger(label: "bench-cpu")
        logger.logLevel = .error
        options.logger = logger
        options.journal.logger = logger
        do {
            try KeyValueStore.create(location: location, configuration: configuration)
            return try KeyValueStore.open(location: location, options: options)
        } catch { throw CLIError(.ioError, "bench cpu: \(error)") }
    }
}
