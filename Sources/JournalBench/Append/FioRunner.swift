import Foundation
import JournalCLISupport

#if canImport(Glibc)
import Glibc
#endif

/// One fio run's figures (jobs[0].write of its JSON output).
struct FioRound: Sendable {
    var iops: Double
    var bytesPerSecond: Double
    /// Latency from submission to completion (lat_ns; clat_ns when fio
    /// reports no lat_ns percentiles). Completion latency alone misses
    /// writes that io_uring completes inline while submitting them: their
    /// clat is a few hundred nanoseconds.
    var latency: LatencyPercentiles

    var megabytesPerSecond: Double { bytesPerSecond / 1e6 }
}

/// Runs fio the way the journal writes: sequential, direct, every write
/// durable (O_DSYNC), through io_uring, over a file written once with zeros
/// so that its extents are already written (as the journal's segments are).
struct FioRunner {
    let executable: String
    /// Run fio with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`: glibc then
    /// advises its large allocations, fio's I/O buffers among them, for
    /// transparent huge pages, as the journal advises its batch buffers.
    /// From 4 KiB pages a 1 MiB direct write reaches a virtio disk as two
    /// or three requests depending on how the pages happen to lie in
    /// physical memory, and fio's 1 MiB bandwidth swings with it (3.3 vs
    /// 4.0 GB/s here from one run to the next); from huge pages it is at
    /// its best every time.
    let hugePageBuffers: Bool

    static let hugePageTunable = "glibc.malloc.hugetlb=1"

    init(executable: String, hugePageBuffers: Bool = true) {
        self.executable = executable
        self.hugePageBuffers = hugePageBuffers
    }

    /// fio on PATH, or nil.
    static func locate(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// The arguments of one run (without the executable).
    func arguments(file: String, fileBytes: Int, blockBytes: Int, queueDepth: Int, seconds: Double, warmupSeconds: Double) -> [String] {
        [
            "--name=journal-peer", "--filename=\(file)", "--size=\(fileBytes)",
            "--rw=write", "--bs=\(blockBytes)", "--iodepth=\(queueDepth)",
            "--ioengine=io_uring", "--direct=1", "--sync=dsync",
            "--time_based", "--runtime=\(Int((seconds * 1000).rounded()))ms",
            "--ramp_time=\(Int((warmupSeconds * 1000).rounded()))ms",
            "--lat_percentiles=1", "--output-format=json",
        ]
    }

    func commandLine(_ arguments: [String]) -> String {
        ((hugePageBuffers ? ["GLIBC_TUNABLES=\(Self.hugePageTunable)"] : []) + [executable] + arguments).joined(separator: " ")
    }

    /// Runs fio and returns the figures of `direction` ("write" or "read").
    func run(_ arguments: [String], direction: String = "write") throws(BenchError) -> FioRound {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if hugePageBuffers {
            var environment = ProcessInfo.processInfo.environment
            let tunables = environment["GLIBC_TUNABLES"].map { $0 + ":" } ?? ""
            environment["GLIBC_TUNABLES"] = tunables + Self.hugePageTunable
            process.environment = environment
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { throw BenchError("cannot start \(executable): \(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderrText = String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            throw BenchError("fio exited with status \(process.terminationStatus): \(stderrText)")
        }
        return try Self.parse(data, direction: direction)
    }

    /// Parses fio's JSON output (text before the first `{` is skipped: fio
    /// may print notes ahead of it).
    static func parse(_ data: Data, direction: String = "write") throws(BenchError) -> FioRound {
        guard let brace = data.firstIndex(of: UInt8(ascii: "{")) else { throw BenchError("fio printed no JSON") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data[brace...]) } catch { throw BenchError("fio's JSON does not parse: \(error)") }
        guard let root = object as? [String: Any], let jobs = root["jobs"] as? [[String: Any]], let job = jobs.first,
            let write = job[direction] as? [String: Any]
        else { throw BenchError("fio's JSON has no jobs[0].\(direction)") }
        if let error = job["error"] as? NSNumber, error.intValue != 0 { throw BenchError("fio job failed with error \(error)") }
        guard let iops = (write["iops"] as? NSNumber)?.doubleValue, let bw = (write["bw_bytes"] as? NSNumber)?.doubleValue else {
            throw BenchError("fio's JSON has no \(direction).iops / \(direction).bw_bytes")
        }
        let percentiles = (write["lat_ns"] as? [String: Any])?["percentile"] as? [String: Any]
            ?? (write["clat_ns"] as? [String: Any])?["percentile"] as? [String: Any] ?? [:]
        func at(_ key: String) -> UInt64 { (percentiles[key] as? NSNumber)?.uint64Value ?? 0 }
        return FioRound(
            iops: iops, bytesPerSecond: bw,
            latency: LatencyPercentiles(p50: at("50.000000"), p99: at("99.000000"), p999: at("99.900000")))
    }

    /// Writes `bytes` of zeros to `path` and makes them durable.
    static func prepareFile(_ path: String, bytes: Int) throws(BenchError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if fd < 0 { throw BenchError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = 1 << 20
        let zeros = [UInt8](repeating: 0, count: chunk)
        var offset = 0
        while offset < bytes {
            let n = min(chunk, bytes - offset)
            let written = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, n, off_t(offset)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw BenchError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        if fsync(fd) != 0 { throw BenchError("cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }
}
