import JournalPrimitives

/// What a load run measured: acknowledged puts, failed ones, and the
/// latency of each acknowledged put.
public struct KVLoadResult: Sendable {
    public var clients: Int
    public var puts: Int
    public var failures: Int
    public var seconds: Double
    /// Sorted, in microseconds.
    public var latenciesMicroseconds: [UInt64]

    public var putsPerSecond: Double { seconds > 0 ? Double(puts) / seconds : 0 }

    /// The latency at quantile `q` (0...1), in microseconds.
    public func latency(_ q: Double) -> UInt64 {
        guard !latenciesMicroseconds.isEmpty else { return 0 }
        return latenciesMicroseconds[min(latenciesMicroseconds.count - 1, Int(q * Double(latenciesMicroseconds.count)))]
    }
}

/// A load generator for benchmarks: `clients` threads, each with its own
/// cluster client, putting distinct keys as fast as the cluster acknowledges
/// them for `seconds`.
public enum KVLoad {
    public static func run(endpoints: [HostPort], clients: Int, seconds: Double, valueBytes: Int, label: String) -> KVLoadResult {
        let results = LockedValue<[(latencies: [UInt64], failures: Int)]>([])
        let start = monotonicNanos()
        let end = start + UInt64(seconds * 1e9)
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: valueBytes)
        let threads = (0..<clients).map { c in
            JoinableThread(name: "kv-load-\(c)") {
                let client = KVClusterClient(endpoints: endpoints, deadlineMilliseconds: 5000)
                var latencies: [UInt64] = []
                var failures = 0
                var i = 0
                while monotonicNanos() < end {
                    let t0 = monotonicNanos()
                    do {
                        try client.put(Array("\(label)-\(c)-\(i)".utf8), value)
                        latencies.append((monotonicNanos() - t0) / 1000)
                    } catch {
                        failures += 1
                    }
                    i += 1
                }
                results.withLock { $0.append((latencies, failures)) }
            }
        }
        for thread in threads { thread.join() }
        let elapsed = Double(monotonicNanos() - start) / 1e9
        let all = results.withLock { $0 }
        return KVLoadResult(
            clients: clients, puts: all.reduce(0) { $0 + $1.latencies.count }, failures: all.reduce(0) { $0 + $1.failures },
            seconds: elapsed, latenciesMicroseconds: all.flatMap(\.latencies).sorted())
    }
}
