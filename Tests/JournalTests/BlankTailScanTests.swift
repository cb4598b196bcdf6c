@testable import Journal
import JournalPrimitives
import TestSupport
import Testing

/// Past the end of the log, recovery passes over runs of offsets whose
/// fragment type byte is zero (Recovery/FragmentCandidates.swift). These
/// tests hold it to a plain scan of every aligned offset: a non-zero byte
/// anywhere is seen, and a header anywhere in a blank tail is evidence.
@Suite struct BlankTailScanTests {
    /// Every aligned offset at or after `from`, up to `limit`, whose type byte
    /// is not zero, in order: what the fast scan must return one by one.
    static func plainCandidates(_ bytes: UnsafeRawBufferPointer, from: Int, through limit: Int) -> [Int] {
        Array(stride(from: from, through: limit, by: 8)).filter { bytes[$0 + FragmentHeader.typeOffset] != 0 }
    }

    static func fastCandidates(_ bytes: UnsafeRawBufferPointer, from: Int, through limit: Int) -> [Int] {
        var out: [Int] = []
        var p = from
        while let c = bytes.nextFragmentCandidate(from: p, through: limit) {
            out.append(c)
            p = c + 8
        }
        return out
    }

    /// One non-zero byte at every position of a zero buffer in turn (the
    /// first, the last, inside and at the edges of each 256-byte run): the
    /// offset whose type byte it is comes back exactly when it is in range,
    /// from several starting offsets and limits.
    @Test func aSingleNonZeroByteAnywhereIsSeen() {
        let count = 4096 + 40
        var buffer = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            buffer[i] = i % 2 == 0 ? 0x80 : 0x01
            buffer.withUnsafeBytes { b in
                for from in [0, 8, 128, 2048] {
                    for limit in [count - 40, count - 48, 1000, from + 248, from] {
                        let fast = Self.fastCandidates(b, from: from, through: limit)
                        #expect(fast == Self.plainCandidates(b, from: from, through: limit), "byte \(i), from \(from) through \(limit)")
                        let typeOf = i - FragmentHeader.typeOffset
                        let expected = typeOf >= from && typeOf <= limit && typeOf % 8 == 0
                        #expect(fast == (expected ? [typeOf] : []), "byte \(i)")
                    }
                }
            }
            buffer[i] = 0
        }
    }

    /// Sparse random bytes and valid headers: the fast search for a valid
    /// fragment returns what `firstValidFragment` returns, from every start.
    @Test func findsWhatThePlainScanFinds() {
        let header = SegmentHeader(journalID: 7, segmentIndex: 3, baseLSN: 1, salt: 0xABCD, epoch: 2, blockBytes: 4096,
                                   pageBytes: 32 << 10, windowBytes: 0, previousCRC: 0)
        var random = SplitMix64(seed: 99)
        for round in 0..<40 {
            var buffer = [UInt8](repeating: 0, count: 16 << 10)
            for _ in 0..<(round % 8) { buffer[Int(random.next() % UInt64(buffer.count))] = UInt8(truncatingIfNeeded: random.next() | 1) }
            for _ in 0..<(round % 3) {
                let at = Int(random.next() % UInt64(buffer.count / 8 - 5)) * 8
                buffer.withUnsafeMutableBytes {
                    _ = FragmentHeader.encode(into: $0, at: at, seed: header.fragmentSeed, payloadCRC: 0, previousCRC: 0, length: 0,
                                              lsn: 5 + random.next() % 4, committedLSN: 1, type: .full, epoch: 2)
                }
            }
            buffer.withUnsafeBytes { b in
                let decoder = SegmentDecoder(bytes: b, header: header, recordBytesMax: 1 << 20)
                let accept = { (h: FragmentHeader) in h.lsn != 6 }
                for from in stride(from: 0, to: b.count, by: 504) {
                    for to in [b.count, b.count - 3, from + 300] {
                        let plain = decoder.firstValidFragment(from: from, to: to, accept: accept)
                        let fast = decoder.firstValidFragmentSkippingZeros(from: from, to: to, accept: accept)
                        #expect(plain?.offset == fast?.offset && plain?.header == fast?.header, "round \(round), from \(from) to \(to)")
                    }
                }
            }
        }
    }

    /// The last record's header, moved from its block (zeroed) into the
    /// blank rest of the segment, is evidence of a torn tail wherever it
    /// lies: at the first aligned offset past the end, inside a block, or
    /// at the last offset that holds a header. A lone non-zero byte there
    /// (no header) leaves a clean end.
    @Test func aHeaderAnywhereInABlankTailIsEvidence() throws {
        let segmentBytes = 256 << 10
        for placement in ["first", "middle", "last"] {
            for wholeHeader in [true, false] {
                let dir = TemporaryDirectory(on: .shm)
                try Journal.create(path: dir.path, configuration: smallConfiguration(segmentBytes: segmentBytes))
                let journal = try Journal.open(path: dir.path)
                for i in 0..<10 { _ = try journal.appendBlocking(payload(i, bytes: 200)) }
                journal.close()
                let before = try Journal.openForReading(path: dir.path)
                let segment = dir.path + "/" + before.recoveryReport.endSegment
                // Each record is its own batch: the last one starts its block.
                let lastStart = (before.recoveryReport.endOffset - 1) / 4096 * 4096
                let lastHeader = try readFile(segment, at: lastStart, count: JournalFormat.fragmentHeaderBytes)
                try patchFile(segment, at: lastStart, [UInt8](repeating: 0, count: 4096))
                let end = try Journal.openForReading(path: dir.path).recoveryReport.endOffset
                let offset = switch placement {
                case "first": roundUp(end, 8)
                case "middle": lastStart + 3 * 4096 + 1000
                default: segmentBytes - JournalFormat.fragmentHeaderBytes
                }
                try patchFile(segment, at: offset, wholeHeader ? lastHeader : [UInt8](repeating: 0, count: FragmentHeader.typeOffset) + [1])
                let after = try Journal.openForReading(path: dir.path).recoveryReport
                #expect(after.lastLSN == 9, "\(placement)")
                #expect(after.endOffset == end, "\(placement)")
                if wholeHeader {
                    #expect(after.outcome == .tornTailCut, "\(placement)")
                    #expect(after.discardedFragments == 1, "\(placement)")
                    #expect(after.discardedBytes == offset + JournalFormat.fragmentHeaderBytes + 200 - end, "\(placement)")
                } else {
                    #expect(after.outcome == .clean, "\(placement)")
                }
            }
        }
    }
}
