public import Foundation

/// A `journalctl-swift kv put --stdin` process kept running: the test feeds
/// it `key<TAB>value` lines and reads the keys it acknowledges, each printed
/// once its put is durable.
public final class PutStream {
    public let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending: [UInt8] = []
    /// The keys acknowledged so far, in order.
    public private(set) var acknowledged: [String] = []

    public init(_ executable: String, store: String, checkpointEvery: Int) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["kv", "put", "--store", store, "--stdin", "--checkpoint-every", "\(checkpointEvery)"]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
    }

    /// Writes one put per pair.
    public func feed(_ puts: [(key: String, value: String)]) throws {
        let text = puts.map { "\($0.key)\t\($0.value)\n" }.joined()
        try input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    /// Blocks until `count` keys in all were acknowledged (or the output ended).
    public func awaitAcknowledged(_ count: Int) {
        while acknowledged.count < count {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return }
            pending.append(contentsOf: chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                acknowledged.append(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
    }

    /// Closes the input and waits for the process; its exit status.
    public func finish() throws -> Int32 {
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
