import Foundation

/// The built `journalctl-swift`: next to the test bundle (`swift test`
/// builds every product into the same directory), or `JOURNALCTL_SWIFT`.
public enum Executable {
    public static let journalctl: String? = {
        let fm = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["JOURNALCTL_SWIFT"], fm.isExecutableFile(atPath: explicit) {
            return explicit
        }
        var directories: [URL] = []
        // The test runner: .../<triple>/debug/<package>PackageTests.xctest (a file on Linux).
        let argument0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        directories.append(argument0.deletingLastPathComponent())
        directories.append(Bundle.main.bundleURL.resolvingSymlinksInPath())
        directories.append(Bundle.main.bundleURL.resolvingSymlinksInPath().deletingLastPathComponent())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append(bundle.bundleURL.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        // Last resort: the package's default build directory, from this file's path.
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        directories.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in directories {
            let candidate = directory.appendingPathComponent("journalctl-swift").path
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// `seccomp-deny-io-uring`, built beside `journalctl-swift`: runs a
    /// program with the io_uring system calls failing with EPERM.
    public static let denyIOUring: String? = journalctl.map {
        URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent("seccomp-deny-io-uring").path
    }.flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil }
}
