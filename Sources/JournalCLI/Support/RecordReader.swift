import JournalCLISupport

#if canImport(Glibc)
import Glibc
#endif

/// Splits a byte stream (standard input) into records without copying them:
/// each record is handed over as a slice of the read buffer.
///
/// Framing:
/// - lines (default): every `\n`-terminated line is a record, without its
///   `\n` (an empty line is an empty record); a last line without `\n` is a
///   record too.
/// - binary: each record is a 4-byte little-endian length followed by that
///   many bytes. Input that ends inside a frame is an error, raised after
///   every complete record before it has been handed over.
final class RecordReader {
    enum Framing { case lines, binary }

    let fd: Int32
    let framing: Framing
    let recordBytesMax: Int
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var atEOF = false
    /// Records handed over so far.
    private(set) var recordCount = 0

    init(fd: Int32, framing: Framing, recordBytesMax: Int) {
        self.fd = fd
        self.framing = framing
        self.recordBytesMax = recordBytesMax
        buffer = .allocate(byteCount: 1 << 20, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Calls `body` with each record in order until the input ends.
    func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch framing {
        case .lines: try forEachLine(body)
        case .binary: try forEachFrame(body)
        }
    }

    private var available: Int { end - start }

    private func forEachLine(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            let window = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            if let base = window.baseAddress, let hit = memchr(base, Int32(UInt8(ascii: "\n")), window.count) {
                let length = UnsafeRawPointer(hit) - base
                try checkSize(length)
                recordCount += 1
                try body(UnsafeRawBufferPointer(start: base, count: length))
                start += length + 1
                continue
            }
            // No complete line buffered.
            try checkSize(available, exceeded: available > recordBytesMax)
            if atEOF {
                if available > 0 {
                    recordCount += 1
                    try body(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
                    start = end
                }
                return
            }
            try fill(needing: available + 1)
        }
    }

    private func forEachFrame(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            if available < 4 {
                if atEOF {
                    guard available == 0 else {
                        throw CLIError(.usage, "truncated --binary input: \(available) bytes after record \(recordCount) are not a whole 4-byte length prefix")
                    }
                    return
                }
                try fill(needing: 4)
                continue
            }
            let length = Int(UInt32(buffer[start]) | UInt32(buffer[start + 1]) << 8 | UInt32(buffer[start + 2]) << 16 | UInt32(buffer[start + 3]) << 24)
            try checkSize(length)
            if available < 4 + length {
                if atEOF {
                    throw CLIError(.usage, "truncated --binary input: record \(recordCount + 1) promises \(length) bytes but only \(available - 4) remain")
                }
                try fill(needing: 4 + length)
                continue
            }
            recordCount += 1
            try body(UnsafeRawBufferPointer(rebasing: buffer[(start + 4)..<(start + 4 + length)]))
            start += 4 + length
        }
    }

    private func checkSize(_ bytes: Int, exceeded: Bool? = nil) throws(CLIError) {
        guard exceeded ?? (bytes > recordBytesMax) else { return }
        let which = framing == .lines ? "line \(recordCount + 1)" : "record \(recordCount + 1)"
        let size = framing == .lines && exceeded != nil ? "more than \(recordBytesMax) bytes" : "\(bytes) bytes"
        throw CLIError(.usage, "\(which): a record of \(size) exceeds the journal's maximum of \(recordBytesMax) bytes")
    }

    /// Reads until `needed` bytes are buffered from `start`, or end of input.
    /// Moves the unread bytes to the front and grows the buffer as needed.
    private func fill(needing needed: Int) throws(CLIError) {
        if start > 0 {
            if available > 0, let base = buffer.baseAddress {
                memmove(base, base + start, available)
            }
            end = available
            start = 0
        }
        if needed > buffer.count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: max(needed, buffer.count * 2), alignment: 16)
            if end > 0, let to = grown.baseAddress, let from = buffer.baseAddress { to.copyMemory(from: from, byteCount: end) }
            buffer.deallocate()
            buffer = grown
        }
        while end < needed && !atEOF {
            guard let base = buffer.baseAddress else { preconditionFailure("the buffer is never empty") }
            let n = read(fd, base + end, buffer.count - end)
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError(.ioError, "reading standard input: \(String(cString: strerror(errno)))")
            }
            if n == 0 { atEOF = true } else { end += n }
        }
    }
}
