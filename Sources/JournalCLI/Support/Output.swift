#if canImport(Glibc)
import Glibc
#endif

/// Buffered output to a file descriptor with explicit flushes.
///
/// `flush()` hands the bytes to the kernel with `write(2)`: once it returns,
/// a `SIGKILL` of this process cannot lose them. Not thread-safe: one owner.
final class OutputBuffer {
    let fd: Int32
    private var bytes: [UInt8] = []
    /// Bytes buffered before `write` flushes on its own.
    private let flushThresholdBytes: Int
    /// The first write error (e.g. EPIPE); later output is dropped.
    private(set) var failure: Int32?

    init(fd: Int32, flushThresholdBytes: Int = 1 << 16) {
        self.fd = fd
        self.flushThresholdBytes = flushThresholdBytes
        bytes.reserveCapacity(flushThresholdBytes + 4096)
    }

    func write(_ string: String) {
        var s = string
        s.withUTF8 { bytes.append(contentsOf: $0) }
        flushIfFull()
    }

    func write(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
        flushIfFull()
    }

    func write(byte: UInt8) {
        bytes.append(byte)
    }

    func write(bytes more: [UInt8]) {
        bytes.append(contentsOf: more)
        flushIfFull()
    }

    /// Appends `value` in decimal without going through `String`.
    func write(decimal value: UInt64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { d in
            var v = value
            var i = d.count
            repeat {
                i -= 1
                d[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[i...]))
        }
    }

    private func flushIfFull() {
        if bytes.count >= flushThresholdBytes { flush() }
    }

    /// Writes everything buffered to the file descriptor, retrying partial
    /// writes and `EINTR`.
    func flush() {
        defer { bytes.removeAll(keepingCapacity: true) }
        guard failure == nil, !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += n
            }
        }
    }
}

/// Writes one line to standard error at once.
func writeStandardError(_ line: String) {
    var text = line
    if !text.hasSuffix("\n") { text += "\n" }
    text.withUTF8 { raw in
        guard let base = raw.baseAddress else { return }
        var offset = 0
        while offset < raw.count {
            let n = Glibc.write(2, base + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
    }
}
