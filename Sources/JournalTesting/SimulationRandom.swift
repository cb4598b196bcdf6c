import JournalPrimitives
#if canImport(Glibc)
import Glibc
#endif

/// The simulation's pseudo-random number generator: xoshiro256** seeded
/// through SplitMix64.
///
/// Every decision the simulated disk makes comes from one of these, so a run
/// is reproduced by its seed. The algorithms are spelled out here rather than
/// taken from the standard library (`Int.random(in:using:)` may change between
/// Swift releases), so a seed keeps its meaning across toolchains.
public struct SimulationRandom: Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// A generator whose whole output is determined by `seed`.
    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        s0 = mixer.next()
        s1 = mixer.next()
        s2 = mixer.next()
        s3 = mixer.next()
        // xoshiro's state must not be all zero; SplitMix64 never yields four
        // zeros in a row, but say so.
        assert(s0 | s1 | s2 | s3 != 0)
    }

    /// An independent stream derived from `seed` and a stream number, so that
    /// separate concerns (one per write queue, reads, power cuts) draw
    /// without disturbing each other.
    public init(seed: UInt64, stream: UInt64) {
        var mixer = SplitMix64(seed: stream)
        self.init(seed: seed ^ mixer.next())
    }

    /// The next 64 random bits (xoshiro256**, Blackman and Vigna 2018).
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }

    /// A uniform integer in `0..<bound` (Lemire's multiply-shift with
    /// rejection, so without bias). `bound` must be positive.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "the bound must be positive")
        let n = UInt64(bound)
        var product = next().multipliedFullWidth(by: n)
        if product.low < n {
            let threshold = (0 &- n) % n
            while product.low < threshold {
                product = next().multipliedFullWidth(by: n)
            }
        }
        let result = Int(product.high)
        assert(result >= 0 && result < bound)
        return result
    }

    /// A uniform integer in `range`, which must not be empty.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }

    /// True with probability `probability`. Draws nothing when the
    /// probability is 0 or 1, so turning a fault off leaves the other
    /// decisions of a run unchanged.
    public mutating func chance(_ probability: Double) -> Bool {
        if probability <= 0 { return false }
        if probability >= 1 { return true }
        let unit = Double(next() >> 11) * 0x1p-53
        return unit < probability
    }

    /// Fills `buffer` with random bytes.
    public mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var index = 0
        if let base = buffer.baseAddress {
            // Whole words first, least significant byte first as below
            // (the same bytes, without a call per byte in a debug build).
            while index + 8 <= buffer.count {
                var word = next().littleEndian
                memcpy(base + index, &word, 8)
                index += 8
            }
        }
        while index < buffer.count {
            var word = next()
            for _ in 0..<8 where index < buffer.count {
                buffer[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
    }

    /// Shuffles `array` in place (Fisher-Yates).
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = below(i + 1)
            if i != j { array.swapAt(i, j) }
        }
    }
}
