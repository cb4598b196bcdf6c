import Foundation
import JournalCLISupport

/// One line of a `bench all` run: the JSON object a suite printed, tagged
/// with the suite that printed it (`"suite"`), or a line of text from a
/// suite that prints text.
///
/// The results file of a run holds these lines, one per line, so that the
/// report can be drawn again from it (`bench report`).
struct BenchRecord {
    var suite: String
    var fields: [String: Any]

    /// A string field.
    func string(_ key: String) -> String? { fields[key] as? String }

    /// A numeric field (JSON null and missing keys are nil).
    func number(_ key: String) -> Double? {
        guard let n = fields[key] as? NSNumber, !isJSONBool(n) else { return nil }
        let d = n.doubleValue
        return d.isFinite ? d : nil
    }

    func integer(_ key: String) -> Int? { number(key).map { Int($0) } }

    func bool(_ key: String) -> Bool? {
        guard let n = fields[key] as? NSNumber, isJSONBool(n) else { return nil }
        return n.boolValue
    }

    /// The suite's own line of text, for suites that print text.
    var text: String? { string("text") }

    /// Parses one results line; nil for a blank or malformed line.
    static func parse(_ line: String) -> BenchRecord? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("{"), let data = trimmed.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let suite = object["suite"] as? String
        else { return nil }
        return BenchRecord(suite: suite, fields: object)
    }

    /// Parses a results file's lines, skipping what does not parse.
    static func parseAll(_ text: String) -> [BenchRecord] {
        text.split(separator: "\n").compactMap { parse(String($0)) }
    }

    /// The results line for what suite `suite` printed: its JSON object with
    /// `"suite"` put first, or its text as `{"suite": ..., "text": ...}`.
    static func tag(_ line: String, suite: String) -> String {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let tagged = jsonLine([("suite", .string(suite))])
        if trimmed.hasPrefix("{") && trimmed.hasSuffix("}"),
           let data = trimmed.data(using: .utf8), let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            // A suite that tags its own lines with its name keeps them as they are.
            if object["suite"] as? String == suite { return trimmed }
            let rest = trimmed.dropFirst().trimmingCharacters(in: .whitespaces)
            return rest == "}" ? tagged : String(tagged.dropLast()) + "," + rest
        }
        return jsonLine([("suite", .string(suite)), ("text", .string(line))])
    }
}

/// Whether a number JSONSerialization produced was `true` or `false` (on
/// Linux, `NSNumber(1) is Bool` holds, so the cast cannot tell).
func isJSONBool(_ n: NSNumber) -> Bool {
    String(cString: n.objCType) == "c"
}

/// The records of one run, with the look-ups the report needs.
struct BenchRun {
    var records: [BenchRecord]

    /// Records of `suite`.
    func suite(_ name: String) -> [BenchRecord] { records.filter { $0.suite == name } }

    /// The run's machine description (suite "meta").
    var meta: BenchRecord? { records.first { $0.suite == BenchSuiteName.meta } }

    /// Suites that were skipped or failed, with why (suite "status").
    var statuses: [BenchRecord] { suite(BenchSuiteName.status) }

    /// An append suite's cell.
    func appendCell(_ suite: String, _ cell: String) -> BenchRecord? {
        self.suite(suite).first { $0.string("cell") == cell }
    }
}

/// Names of the suites of `bench all`, as they appear in results.
enum BenchSuiteName {
    static let meta = "meta"
    static let status = "status"
    static let appendDisk = "append-disk"
    static let appendShm = "append-shm"
    static let backends = "backends"
    static let follow = "follow"
    static let replay = "replay"
    static let pagedFile = "pagedfile"
    static let kv = "kv"
    static let cpu = "cpu"
    static let micro = "micro"
}
