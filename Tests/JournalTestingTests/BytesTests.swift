@testable import JournalTesting
import Testing

/// The simulator's byte helpers give what the generic collection code they
/// replace gives.
@Suite("Simulated disk: byte copies, comparisons and zero scans")
struct BytesTests {
    static let sizes = [0, 1, 2, 63, 64, 65, 511, 4095, 4096, 4097, 9000]

    @Test("the last non-zero byte is the one lastIndex(where:) finds", arguments: sizes)
    func lastNonZero(size: Int) {
        var random = SimulationRandom(seed: UInt64(size))
        var places = [0, size / 2, size - 1, size - 64, size - 4096, 4096, 63, 64].filter { $0 >= 0 && $0 < size }
        places += (0..<8).compactMap { _ in size > 0 ? random.below(size) : nil }
        var bytes = [UInt8](repeating: 0, count: size)
        #expect(bytes.withUnsafeBytes { Bytes.lastNonZero($0) } == nil)
        for place in places {
            bytes[place] = UInt8(1 + random.below(255))
            let expected = bytes.lastIndex { $0 != 0 }
            #expect(bytes.withUnsafeBytes { Bytes.lastNonZero($0) } == expected, "size \(size), byte \(place)")
        }
    }

    @Test("copies and comparisons agree with Array and ==")
    func copiesAndComparisons() {
        var random = SimulationRandom(seed: 7)
        for size in Self.sizes {
            var a = [UInt8](repeating: 0, count: size)
            a.withUnsafeMutableBytes { random.fill($0) }
            let copy = a.withUnsafeBytes { Bytes.array($0) }
            #expect(copy == a)
            #expect(Bytes.equal(copy, a))
            #expect(!Bytes.equal(a, a + [0]))
            if size > 0 {
                var b = a
                b[random.below(size)] ^= 1
                #expect(!Bytes.equal(a, b))
                #expect(!Bytes.equal([a, a], [a, b]) && Bytes.equal([a, b], [a, b]))
            }
        }
    }

    @Test("fill gives the bytes of next(), least significant first, word after word")
    func fillIsWordByWord() {
        for count in 0...33 {
            var filled = SimulationRandom(seed: 99)
            var buffer = [UInt8](repeating: 0, count: count)
            buffer.withUnsafeMutableBytes { filled.fill($0) }
            var reference = SimulationRandom(seed: 99)
            var expected: [UInt8] = []
            while expected.count < count {
                var word = reference.next()
                for _ in 0..<8 where expected.count < count {
                    expected.append(UInt8(truncatingIfNeeded: word))
                    word >>= 8
                }
            }
            #expect(buffer == expected, "\(count) bytes")
            #expect(filled.next() == reference.next(), "the same draws after \(count) bytes")
        }
    }
}
