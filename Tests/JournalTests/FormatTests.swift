import Journal
import JournalPrimitives
import Testing

@Suite struct CRC32CTests {
    // Vectors from RFC 3720 (iSCSI), appendix B.4, and the common check value.
    static let vectors: [([UInt8], UInt32)] = [
        (Array("123456789".utf8), 0xE306_9283),
        ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        ((0..<32).map { UInt8($0) }, 0x46DD_794E),
        ((0..<32).map { UInt8(31 - $0) }, 0x113F_DB5C),
        ([], 0),
    ]

    @Test func knownVectors() {
        for (bytes, expected) in Self.vectors {
            #expect(CRC32C.checksum(bytes) == expected, "CRC32C of \(bytes.count) bytes")
            bytes.withUnsafeBytes { #expect(CRC32C.portableUpdate(0, $0) == expected) }
        }
    }

    @Test func hardwareAndPortableAgreeOnEveryLengthAndAlignment() {
        let data = (0..<600).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        data.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in stride(from: 0, to: 560, by: 7) {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    #expect(CRC32C.update(0, slice) == CRC32C.portableUpdate(0, slice))
                }
            }
        }
    }

    /// Large inputs take the three-stream path; it must agree with the table.
    @Test func largeInputsAgreeWithThePortablePath() {
        var g: UInt64 = 0x1234_5678
        let data = (0..<(3 * 8192 * 2 + 3 * 256 * 3 + 77)).map { _ -> UInt8 in
            g = g &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: g >> 33)
        }
        data.withUnsafeBytes { all in
            for (start, length) in [(0, all.count), (3, all.count - 3), (5, 3 * 8192), (1, 3 * 256), (7, 3 * 8192 + 3 * 256 + 9), (0, 3 * 256 - 1)] {
                let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                #expect(CRC32C.update(0x89AB_CDEF, slice) == CRC32C.portableUpdate(0x89AB_CDEF, slice), "offset \(start) length \(length)")
            }
        }
    }

    /// The fused copy-and-checksum gives the same checksum as the table and
    /// copies exactly the bytes asked for, at every alignment and on every path.
    @Test func copyingChecksumMatchesAndCopiesExactly() {
        var g: UInt64 = 0x9E37_79B9
        let data = (0..<(3 * 8192 * 2 + 3 * 256 * 3 + 77)).map { _ -> UInt8 in
            g = g &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: g >> 33)
        }
        let target = UnsafeMutableRawBufferPointer.allocate(byteCount: data.count + 32, alignment: 64)
        defer { target.deallocate() }
        data.withUnsafeBytes { all in
            let cases = [(0, all.count), (3, all.count - 3), (5, 3 * 8192), (1, 3 * 256), (7, 3 * 8192 + 3 * 256 + 9), (0, 3 * 256 - 1), (2, 13), (0, 0)]
            for (start, length) in cases {
                for destinationOffset in [0, 5, 8] {
                    target.initializeMemory(as: UInt8.self, repeating: 0xA5)
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    let crc = CRC32C.copy(slice, to: target.baseAddress! + destinationOffset)
                    #expect(crc == CRC32C.portableUpdate(0, slice), "offset \(start) length \(length)")
                    #expect(UnsafeRawBufferPointer(rebasing: target[destinationOffset..<(destinationOffset + length)]).elementsEqual(slice))
                    #expect(target[..<destinationOffset].allSatisfy { $0 == 0xA5 } && target[(destinationOffset + length)...].allSatisfy { $0 == 0xA5 },
                            "nothing outside the destination range is written")
                }
            }
        }
    }

    @Test func updateContinuesAChecksum() {
        let a = Array("hello, ".utf8)
        let b = Array("journal".utf8)
        let whole = CRC32C.checksum(a + b)
        let continued = b.withUnsafeBytes { CRC32C.update(CRC32C.checksum(a), $0) }
        #expect(whole == continued)
    }
}

@Suite struct FormatNamingTests {
    @Test func segmentNamesRoundTrip() {
        for index: UInt64 in [1, 2, 0xff, 0x1234_5678_9abc] {
            let name = JournalFormat.segmentFileName(index: index)
            #expect(name.count == 16 + JournalFormat.segmentFileSuffix.count)
            #expect(JournalFormat.segmentIndex(fileName: name) == index)
        }
        #expect(JournalFormat.segmentIndex(fileName: "journal.meta") == nil)
        #expect(JournalFormat.segmentIndex(fileName: "spare-3.seg") == nil)
        #expect(JournalFormat.segmentIndex(fileName: "000000000000000g.seg") == nil)
    }
}
