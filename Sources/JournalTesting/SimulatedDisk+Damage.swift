extension SimulatedDisk {
    /// Flips one bit, chosen by `seed`, in the written region (up to the last
    /// non-zero byte) of one of the files `include` selects, weighted by
    /// those regions' sizes: damage to data at rest, where writes put it
    /// rather than in zeros no reader looks at. Returns the flip, or nil
    /// when no selected file holds a non-zero byte.
    public func flipWrittenBit(seed: UInt64, include: (String) -> Bool) -> BitFlip? {
        var extents: [(String, Int)] = []
        // The images as `durableImage()` gives them, scanned in place.
        forEachDurableFile { name, bytes in
            guard include(name), let lastNonZero = Bytes.lastNonZero(bytes) else { return }
            extents.append((name, lastNonZero + 1))
        }
        let total = extents.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return nil }
        var random = SimulationRandom(seed: seed, stream: 0xF11B)
        var position = random.below(total)
        let bit = random.below(8)
        for (name, extent) in extents {
            if position < extent {
                flipBit(file: name, offset: position, bit: bit)
                return BitFlip(location: Location(file: name, offset: position), bit: bit)
            }
            position -= extent
        }
        return nil
    }
}
