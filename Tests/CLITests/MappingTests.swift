import Journal
import JournalCLISupport
import JournalStorage
import Testing
import JournalPrimitives
@testable import JournalCLI

/// The parts of the CLI that need no process: error mapping, encodings, sizes.
@Suite struct MappingTests {
    @Test func everyJournalErrorHasItsExitCode() {
        let io = StorageError("io_uring write", path: "s.seg", errno: .ioError)
        let cases: [(JournalError, JournalExitCode)] = [
            (.notFound(path: "p"), .notFound),
            (.notAJournal(path: "p", reason: "r"), .notFound),
            (.alreadyExists(path: "p"), .cannotCreate),
            (.newerFormat(path: "p", found: 2, supported: 1), .configuration),
            (.directIOUnsupported(path: "p"), .configuration),
            (.locked(path: "p"), .locked),
            (.permissionDenied(path: "p"), .permissionDenied),
            (.readOnlyFileSystem(path: "p"), .permissionDenied),
            (.journalFull(segmentCountMax: 2), .journalFull),
            (.recordTooLarge(bytes: 2, max: 1), .usage),
            (.corruption(segment: "s", offset: 0, detail: "d"), .corruption),
            (.io(io), .ioError),
            // A failed durable write poisons the journal: an I/O error.
            (.poisoned(io), .ioError),
            (.io(StorageError("open", path: "x", errno: .readOnlyFileSystem)), .permissionDenied),
            (.lsnOutOfRange(requested: 9, first: 1, durable: 2), .usage),
            (.readerFellBehind(name: "r", lsn: 1, oldest: 9), .fellBehind),
        ]
        for (error, code) in cases {
            #expect(CLIError(error).code == code, "\(error)")
        }
        #expect(CLIError(JournalError.poisoned(io)).message.contains("reopen"))
        #expect(Set(JournalExitCode.allCases.map(\.rawValue)).count == JournalExitCode.allCases.count, "codes are distinct")
    }

    @Test func textEscapesAreUnambiguous() {
        #expect(PayloadText.escape(Array("plain ✓".utf8)) == "plain ✓")
        #expect(PayloadText.escape([0x09, 0x0A, 0x0D, 0x5C, 0x00, 0x7F]) == "\\t\\n\\r\\\\\\x00\\x7f")
        // Invalid UTF-8: a lone continuation byte, an overlong form, a surrogate, a truncated sequence.
        #expect(PayloadText.escape([0x80]) == "\\x80")
        #expect(PayloadText.escape([0xC0, 0xAF]) == "\\xc0\\xaf")
        #expect(PayloadText.escape([0xED, 0xA0, 0x80]) == "\\xed\\xa0\\x80")
        #expect(PayloadText.escape([0xE2, 0x9C]) == "\\xe2\\x9c")
        #expect(PayloadText.escape([0xF4, 0x90, 0x80, 0x80]) == "\\xf4\\x90\\x80\\x80")
        #expect(PayloadText.escape([0xF0, 0x9F, 0x98, 0x80]) == "😀")
    }

    @Test func base64MatchesRFC4648() {
        func b64(_ s: String) -> String {
            var out: [UInt8] = []
            Array(s.utf8).withUnsafeBytes { Base64.encode($0, into: &out) }
            return String(decoding: out, as: UTF8.self)
        }
        // RFC 4648 section 10 test vectors.
        #expect(["", "f", "fo", "foo", "foob", "fooba", "foobar"].map(b64) == ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"])
    }

    @Test func byteCountsTakeSuffixes() {
        #expect(ByteCount.parse("4096") == 4096)
        #expect(ByteCount.parse("256K") == 256 << 10)
        #expect(ByteCount.parse("64M") == 64 << 20)
        #expect(ByteCount.parse("1G") == 1 << 30)
        #expect(ByteCount.parse("2MiB") == 2 << 20)
        #expect(ByteCount.parse("12Q") == nil)
        #expect(ByteCount.parse("-1") == nil)
        #expect(ByteCount.parse("99999999999999999G") == nil)
    }
}
