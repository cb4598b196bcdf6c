import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the report says about the machine and the checkout.
enum MachineInfo {
    static var cpuModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return "unknown"
    }

    static var cores: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    static var ramGiB: Double {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return .nan }
        for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let kib = line.split(separator: " ").compactMap { Double($0) }.first ?? .nan
            return kib / 1_048_576
        }
        return .nan
    }

    static var kernel: String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))"
    }

    static var dateUTC: String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date())
    }

    /// The checked-out commit, with "-dirty" when tracked files differ.
    static var commit: String {
        guard let head = run("git", ["rev-parse", "--short=12", "HEAD"])?.trimmingCharacters(in: .whitespacesAndNewlines), !head.isEmpty else {
            return "unknown"
        }
        let dirty = !(run("git", ["status", "--porcelain", "--untracked-files=no"]) ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        return head + (dirty ? "-dirty" : "")
    }

    /// The file system holding `path`: type, device and mount options.
    static func fileSystem(_ path: String) -> String {
        // findmnt lists over-mounted file systems too: the first line is the one in use.
        if let output = run("findmnt", ["-n", "-o", "FSTYPE,SOURCE,OPTIONS", "-T", path]),
           let line = output.split(separator: "\n").first.map({ $0.trimmingCharacters(in: .whitespaces) }), !line.isEmpty {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if f.count >= 3 { return "\(f[0]) (\(f[1]), \(f[2]))" }
            return line
        }
        return fileSystemType(path)
    }

    /// A program's standard output, or nil when it cannot run or fails.
    static func run(_ program: String, _ arguments: [String], in directory: String? = nil) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        do { try process.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
