@_spi(Benchmarks) @testable import Journal
import JournalPrimitives
import Testing

/// Encode/decode of every on-disk structure, against hand-written bytes.
@Suite struct HeaderCodingTests {
    @Test func fragmentHeaderLayoutIsAsSpecified() {
        var buffer = [UInt8](repeating: 0, count: 64)
        let seed = FragmentHeader.seed(salt: 0x0102_0304_0506_0708)
        let crc = buffer.withUnsafeMutableBytes {
            FragmentHeader.encode(into: $0, at: 8, seed: seed, payloadCRC: 0xAABB_CCDD, previousCRC: 0x1122_3344,
                                  length: 300, lsn: 0x0102_0304_0506_0708, committedLSN: 0x0A0B,
                                  type: .first, epoch: 7)
        }
        let h = Array(buffer[8..<48])
        #expect(Array(h[0..<4]) == [UInt8(crc & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc >> 16 & 0xff), UInt8(crc >> 24)])
        #expect(Array(h[4..<8]) == [0xDD, 0xCC, 0xBB, 0xAA])
        #expect(Array(h[8..<12]) == [0x44, 0x33, 0x22, 0x11])
        #expect(Array(h[12..<16]) == [0x2C, 0x01, 0, 0])
        #expect(Array(h[16..<24]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(Array(h[24..<32]) == [0x0B, 0x0A, 0, 0, 0, 0, 0, 0])
        #expect(h[32] == 2 && h[33] == 0 && h[34] == 0 && h[35] == 0)
        #expect(Array(h[36..<40]) == [7, 0, 0, 0])
        // The checksum is CRC32C over the salt (little-endian) then bytes 4..<40.
        let salt: [UInt8] = [8, 7, 6, 5, 4, 3, 2, 1]
        #expect(crc == CRC32C.checksum(salt + Array(h[4..<40])))
        buffer.withUnsafeBytes { raw in
            let decoded = FragmentHeader.decode(raw, at: 8, seed: seed)
            #expect(decoded?.lsn == 0x0102_0304_0506_0708)
            #expect(decoded?.committedLSN == 0x0A0B)
            #expect(decoded?.length == 300)
            #expect(decoded?.type == .first)
            #expect(decoded?.epoch == 7)
            // Another salt does not validate it.
            #expect(FragmentHeader.decode(raw, at: 8, seed: FragmentHeader.seed(salt: 1)) == nil)
        }
        // Any flipped bit invalidates it.
        for bit in 0..<(40 * 8) {
            var copy = buffer
            copy[8 + bit / 8] ^= UInt8(1 << (bit % 8))
            copy.withUnsafeBytes { #expect(FragmentHeader.decode($0, at: 8, seed: seed) == nil, "bit \(bit)") }
        }
    }

    @Test func segmentHeaderRoundTripsAndRejectsDamage() throws {
        let header = SegmentHeader(journalID: 42, segmentIndex: 3, baseLSN: 1000, salt: 99, epoch: 5,
                                   blockBytes: 4096, pageBytes: 32768, windowBytes: 1 << 22, previousCRC: 0xDEAD_BEEF)
        var buffer = [UInt8](repeating: 0, count: 128)
        let crc = buffer.withUnsafeMutableBytes { header.encode(into: $0) }
        #expect(Array(buffer[0..<8]) == Array("SWJNLSEG".utf8))
        let (decoded, decodedCRC) = try buffer.withUnsafeBytes { try SegmentHeader.decode($0) }
        #expect(decoded == header)
        #expect(decodedCRC == crc)
        var damaged = buffer
        damaged[40] ^= 1
        #expect(throws: HeaderProblem.badChecksum) { try damaged.withUnsafeBytes { try SegmentHeader.decode($0) } }
        var newer = buffer
        newer[8] = 2
        let c = newer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<124])) }
        newer[124] = UInt8(c & 0xff); newer[125] = UInt8(c >> 8 & 0xff); newer[126] = UInt8(c >> 16 & 0xff); newer[127] = UInt8(c >> 24)
        #expect(throws: HeaderProblem.newerVersion(2)) { try newer.withUnsafeBytes { try SegmentHeader.decode($0) } }
    }

    @Test func metadataRoundTripsAndValidates() throws {
        let meta = JournalMetadata(journalID: 7, segmentBytes: 1 << 20, segmentCountMax: 4, recordBytesMax: 1 << 16,
                                   blockBytes: 4096, pageBytes: 32768, createdUnixNanos: 123)
        var buffer = [UInt8](repeating: 0, count: JournalFormat.metadataBytes)
        buffer.withUnsafeMutableBytes { meta.encode(into: $0) }
        #expect(try buffer.withUnsafeBytes { try JournalMetadata.decode($0) } == meta)
        var bad = meta
        bad.pageBytes = 3000
        #expect(bad.validationProblem() != nil)
        bad = meta
        bad.recordBytesMax = 2 << 20
        #expect(bad.validationProblem() != nil, "a record must fit in a segment")
        bad = meta
        bad.segmentCountMax = 1
        #expect(bad.validationProblem() != nil)
    }

    @Test func fragmentLayoutNeverCrossesPages() {
        let layout = FragmentLayout(pageBytes: 4096)
        for start in stride(from: 128, to: 9000, by: 8) {
            for size in [0, 1, 100, 4000, 4056, 4057, 10000] {
                // Walk the fragments as the encoder does.
                var p = layout.fragmentStart(atOrAfter: start)
                var remaining = size
                repeat {
                    let take = min(remaining, layout.room(at: p))
                    let header = JournalFormat.fragmentHeaderBytes
                    #expect(p / 4096 == (p + header + take - 1) / 4096, "fragment at \(p) of \(take) crosses a page")
                    remaining -= take
                    if remaining > 0 { p = layout.fragmentStart(atOrAfter: p + header + take) } else { p += header + take }
                } while remaining > 0
                #expect(p == layout.encodedEnd(payloadBytes: size, at: start))
            }
        }
    }

    /// Encoding then decoding a record gives back its bytes, over page ends.
    @Test func encoderAndDecoderAgree() {
        let header = SegmentHeader(journalID: 1, segmentIndex: 1, baseLSN: 1, salt: 5, epoch: 1,
                                   blockBytes: 4096, pageBytes: 4096, windowBytes: 0, previousCRC: 0)
        var segment = [UInt8](repeating: 0, count: 64 << 10)
        var chain = ChainState(lastCRC: 0, lastLSN: 0, lastEpoch: 1)
        var offset = 128
        var payloads: [[UInt8]] = []
        segment.withUnsafeMutableBytes { buf in
            chain.lastCRC = header.encode(into: buf)
            let encoder = RecordEncoder(layout: FragmentLayout(pageBytes: 4096), seed: header.fragmentSeed, epoch: 1)
            for (i, size) in [10, 0, 5000, 4056, 9000, 3].enumerated() {
                let p = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 7 + i) }
                payloads.append(p)
                let (end, crc) = p.withUnsafeBytes {
                    encoder.encode($0, lsn: LSN(i + 1), committedLSN: LSN(i), previousCRC: chain.lastCRC, into: buf, base: 0, at: offset)
                }
                chain = ChainState(lastCRC: crc, lastLSN: LSN(i + 1), lastEpoch: 1)
                offset = end
            }
        }
        segment.withUnsafeBytes { raw in
            let decoder = SegmentDecoder(bytes: raw, header: header, recordBytesMax: 1 << 20)
            var c = ChainState(lastCRC: CRC32C.checksum(Array(segment[0..<124])), lastLSN: 0, lastEpoch: 1)
            var r = decoder.record(at: 128, continuing: c)
            for (i, p) in payloads.enumerated() {
                guard let rec = r else {
                    Issue.record("record \(i + 1) missing")
                    return
                }
                #expect(rec.lsn == LSN(i + 1))
                var got: [UInt8] = []
                decoder.forEachPayloadPiece(of: rec) { got.append(contentsOf: $0) }
                #expect(got == p)
                c = rec.chainAfter
                r = decoder.record(after: rec.end, continuing: c)
            }
            #expect(r == nil, "nothing after the last record")
        }
    }
}

/// The encoder the microbenchmarks measure (`@_spi(Benchmarks)`) is the
/// writer's: same bytes, same chain.
@Suite struct BenchmarkRecordEncoderTests {
    @Test func encodesTheBytesTheWriterEncodes() {
        let salt: UInt64 = 0x77
        let spi = BenchmarkRecordEncoder(pageBytes: 4096, salt: salt, epoch: 3)
        let writer = RecordEncoder(layout: FragmentLayout(pageBytes: 4096), seed: FragmentHeader.seed(salt: salt), epoch: 3)
        let payload = (0..<9000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let end = spi.encodedEnd(payloadBytes: payload.count, at: 200)
        #expect(end > 200 + payload.count + 2 * JournalFormat.fragmentHeaderBytes, "the record spans three pages")
        var a = [UInt8](repeating: 0xEE, count: end)
        var b = [UInt8](repeating: 0xEE, count: end)
        let (endA, crcA) = a.withUnsafeMutableBytes { buf in
            payload.withUnsafeBytes { spi.encode($0, lsn: 9, previousCRC: 0x1234, into: buf, at: 200) }
        }
        let (endB, crcB) = b.withUnsafeMutableBytes { buf in
            payload.withUnsafeBytes { writer.encode($0, lsn: 9, committedLSN: 8, previousCRC: 0x1234, into: buf, base: 0, at: 200) }
        }
        #expect(endA == end && endB == end)
        #expect(crcA == crcB)
        #expect(a == b)
    }
}
