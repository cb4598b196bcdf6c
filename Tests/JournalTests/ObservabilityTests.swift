import Journal
import JournalFileStorage
import JournalPrimitives
import Logging
import Metrics
import MetricsTestKit
import Synchronization
import TestSupport
import Testing

/// Captures log messages for assertions.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    static let messages = LockedValue<[String: [String]]>([:])
    let label: String
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let line = "\(event.level) \(event.message) \(event.metadata.map { "\($0)" } ?? "")"
        Self.messages.withLock { $0[label, default: []].append(line) }
    }
}

/// The metrics factory is process-wide; bootstrap it once.
let testMetrics: TestMetrics = {
    let m = TestMetrics()
    MetricsSystem.bootstrap(m)
    return m
}()

@Suite struct ObservabilityTests {
    @Test func eventsAndMetricsAreReported() throws {
        let metrics = testMetrics
        let dir = TemporaryDirectory(on: .shm)
        let label = "journal-test-\(dir.path.hashValue)"
        var options = JournalOptions()
        options.logger = Logger(label: label) { CapturingLogHandler(label: $0) }
        options.metricsPrefix = label
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let journal = try Journal.open(path: dir.path, options: options)
        for i in 0..<60 { _ = try journal.appendBlocking(payload(i, bytes: 5000)) }
        journal.close()

        let lines = CapturingLogHandler.messages.withLock { $0[label] ?? [] }
        #expect(lines.contains { $0.contains("journal recovered") && $0.contains("clean") })
        #expect(lines.contains { $0.contains("segment activated") }, "rollover is logged")

        let appends = try metrics.expectTimer("\(label).append.latency")
        #expect(appends.values.count == 60)
        #expect(appends.values.allSatisfy { $0 > 0 })
        let writes = try metrics.expectTimer("\(label).write.latency")
        #expect(writes.values.count >= 60, "one durable write per batch at least")
        let batchRecords = try metrics.expectRecorder("\(label).batch.records")
        #expect(batchRecords.values.reduce(0, +) == 60)
        let bytes = try metrics.expectCounter("\(label).bytes.written")
        #expect(bytes.totalValue >= 60 * 5000)
        let batchBytes = try metrics.expectRecorder("\(label).batch.bytes")
        #expect(Int64(batchBytes.values.reduce(0, +)) == bytes.totalValue)
    }

    /// Each named position's lag, in records and bytes behind the durable
    /// LSN, is a gauge with the position's name as its dimension, updated
    /// when statuses are read and at every truncation.
    @Test func positionLagIsAGauge() throws {
        let metrics = testMetrics
        let dir = TemporaryDirectory(on: .shm)
        let label = "journal-lag-\(dir.path.hashValue)"
        var options = JournalOptions()
        options.metricsPrefix = label
        try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: 128 << 10))
        let journal = try Journal.open(path: dir.path, options: options)
        defer { journal.close() }
        for i in 0..<60 { _ = try journal.appendBlocking(payload(i, bytes: 5000)) }
        _ = try journal.createPosition(named: "replica", at: 11)
        let statuses = try journal.readerPositionStatuses()
        #expect(statuses.map(\.lagRecords) == [50])
        let records = try metrics.expectGauge("\(label).position.lag.records", [("position", "replica")])
        #expect(records.lastValue == 50)
        let bytes = try metrics.expectGauge("\(label).position.lag.bytes", [("position", "replica")])
        #expect(bytes.lastValue == Double(statuses[0].lagBytes))
        #expect(statuses[0].lagBytes >= 50 * 5000)
        try journal.position(named: "replica").advance(to: 41)
        try journal.truncate(before: 41)
        #expect(records.lastValue == 20)
    }
}

