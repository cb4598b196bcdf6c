import JournalPrimitives

// Past the end of the log, recovery checks every offset that is a multiple
// of 8 for a fragment header (journal-format.md, section 7.4). Segments are
// preallocated, so most of what lies past the end is zeros, and a header's
// type byte is never zero (1-4): an offset whose type byte is zero is passed
// over without decoding. Testing those one at a time costs a load and a
// branch per 8 bytes, 8 million of each for a 64 MiB segment; the scan here
// tests the type bytes of 32 offsets at once, with vector loads, and only
// looks at single offsets in a run of 256 bytes where one is not zero.
// It passes over exactly the offsets whose type byte is zero, so the
// offsets examined, and their order, are those of a plain scan: what
// recovery finds, and so every verdict, is unchanged.

extension UnsafeRawBufferPointer {
    /// The first offset `p` in `[from, limit]` that is a multiple of the
    /// fragment alignment (`from` is one) and whose fragment type byte
    /// (`p + FragmentHeader.typeOffset`) is not zero; nil when none is.
    /// `limit + fragmentHeaderBytes` must not exceed `count`: each offset
    /// examined has room for a whole header.
    func nextFragmentCandidate(from: Int, through limit: Int) -> Int? {
        let alignment = JournalFormat.fragmentAlignment
        let typeOffset = FragmentHeader.typeOffset
        assert(from % alignment == 0, "offsets are aligned")
        assert(limit + JournalFormat.fragmentHeaderBytes <= count, "every offset examined has room for a header")
        // The type byte of an aligned offset is the first byte of an aligned
        // 8-byte word: the lowest byte of its little-endian value.
        assert(alignment == 8 && typeOffset % alignment == 0)
        let lanes = SIMD8<UInt64>(repeating: UInt64(0xFF).littleEndian)
        let runBytes = Self.candidateRunBytes
        var p = Swift.max(from, 0)
        while p <= limit {
            // A whole run of offsets, all at or below the limit: its type
            // bytes lie in the 256 bytes from p + typeOffset, below `count`.
            if p + runBytes - alignment <= limit {
                let at = p + typeOffset
                let v = loadUnaligned(fromByteOffset: at, as: SIMD8<UInt64>.self)
                    | loadUnaligned(fromByteOffset: at + 64, as: SIMD8<UInt64>.self)
                    | loadUnaligned(fromByteOffset: at + 128, as: SIMD8<UInt64>.self)
                    | loadUnaligned(fromByteOffset: at + 192, as: SIMD8<UInt64>.self)
                if v & lanes != .zero {
                    // Some offset of the run has a type byte: the first one.
                    for q in Swift.stride(from: p, to: p + runBytes, by: alignment) where self[q + typeOffset] != 0 { return q }
                }
                p += runBytes
                continue
            }
            if self[p + typeOffset] != 0 { return p }
            p += alignment
        }
        return nil
    }

    /// Bytes of offsets whose type bytes one vector test covers: 32 offsets.
    static let candidateRunBytes = 256
}

extension SegmentDecoder {
    /// `firstValidFragment(from:to:accept:)`, the same offset and header,
    /// found without decoding at offsets whose type byte is zero, skipped
    /// in runs: the scan past the end of the log over preallocated zeros.
    func firstValidFragmentSkippingZeros(
        from: Int, to: Int, accept: (FragmentHeader) -> Bool
    ) -> (offset: Int, header: FragmentHeader)? {
        let limit = min(to, bytes.count) - JournalFormat.fragmentHeaderBytes
        var p = roundUp(max(from, 0), JournalFormat.fragmentAlignment)
        while let candidate = bytes.nextFragmentCandidate(from: p, through: limit) {
            // The range holds exactly this one offset.
            if let found = firstValidFragment(from: candidate, to: candidate + JournalFormat.fragmentHeaderBytes, accept: accept) {
                return found
            }
            p = candidate + JournalFormat.fragmentAlignment
        }
        return nil
    }
}
