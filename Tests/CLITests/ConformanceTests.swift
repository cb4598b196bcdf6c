import Foundation
import Testing

/// The conformance corpus (Tests/Conformance/README.md): journals crafted
/// from journal-format.md by a script that shares no code with the
/// implementation, read by the CLI in every recovery mode and compared with
/// their manifests.
@Suite struct ConformanceTests {
    @Test func theCLIReadsTheCorpusAsTheManifestsSay() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("Tools/conformance/corpus.py").path
        let exe = try #require(CLI.executable)
        let scratch = try Scratch(base: NSTemporaryDirectory())
        defer { scratch.remove() }
        let generate = try CLI.runProgram("python3", [script, "generate", scratch.path("corpus")])
        #expect(generate.status == 0, "\(generate.stderr)")
        let check = try CLI.runProgram("python3", [script, "check", scratch.path("corpus"), exe])
        #expect(check.status == 0, "\(check.stdoutText)\(check.stderr)")
        #expect(check.stdoutText.contains("of 168 case-modes conform"), "\(check.stdoutText)")
    }
}
