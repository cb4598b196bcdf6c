/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator whose whole
/// output is determined by its seed, so that a failing run is reproduced
/// from the seed it prints. Spelled out rather than taken from the standard
/// library, whose generators may change between Swift releases. Seeds the
/// simulation's xoshiro256** and drives tests and benchmarks.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
