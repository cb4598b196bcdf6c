import JournalPrimitives
import JournalCLISupport

#if canImport(Glibc)
import Glibc
#endif

/// A progress line on standard error for long operations, shown only when
/// standard error is a terminal and redrawn at most four times a second.
final class ProgressLine {
    private let enabled: Bool
    private let intervalNanos: UInt64 = 250_000_000
    private var lastDrawNanos: UInt64 = 0
    private var drawn = false

    init(enabled: Bool = isatty(2) == 1) {
        self.enabled = enabled
        lastDrawNanos = monotonicNanos()
    }

    /// Redraws the line if a quarter second has passed. `text` is built only then.
    func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        let now = monotonicNanos()
        guard now - lastDrawNanos >= intervalNanos else { return }
        lastDrawNanos = now
        drawn = true
        // \r: back to column 0; ESC[K: clear to the end of the line.
        writeRaw("\r\u{1B}[K" + text())
    }

    /// Erases the line, leaving the terminal as it was.
    func finish() {
        guard enabled, drawn else { return }
        drawn = false
        writeRaw("\r\u{1B}[K")
    }

    private func writeRaw(_ s: String) {
        var text = s
        text.withUTF8 { raw in
            guard let base = raw.baseAddress else { return }
            _ = Glibc.write(2, base, raw.count)
        }
    }
}

/// "12.3 MB", "512 B": decimal units, as `dd` and fio report throughput.
func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : "\(formatDecimal(value, places: 1)) \(units[unit])"
}

/// `value` with `places` digits after the point, without Foundation.
func formatDecimal(_ value: Double, places: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled - Double(whole) * scale)
    let sign = value < 0 && scaled > 0 ? "-" : ""
    guard places > 0 else { return "\(sign)\(whole)" }
    var digits = String(fraction)
    while digits.count < places { digits = "0" + digits }
    return "\(sign)\(whole).\(digits)"
}
