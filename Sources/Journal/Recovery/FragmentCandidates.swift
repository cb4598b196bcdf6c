import JournalPrimitives

#if canImport(Glibc)
import Glibc
#endif

// Past the end of the log, recovery checks every offset that is a multiple
// of 8 for a fragment header (journal-format.md, section 7.4). Segments are
// preallocated, so most of what lies past the end is zeros, and a header's
// type byte is never zero (1-4): an offset whose type byte is zero is passed
// over without decoding. Testing those one at a time costs a load and a
// branch per 8 bytes, 8 million of each for a 64 MiB segment; the scan here
// passes over whole blocks of zeros (4 KiB, then runs of 256 bytes: 32
// offsets) with the C library's `memcmp`, which compares words with vector
// instructions in any build of this code (the tests' debug build runs
// Swift's own vector types one lane at a time, and the scan over zeros was
// a fifth of the crash explorer's time), and only looks at single offsets
// in a run of 256 bytes where one byte is not zero.
// It passes over exactly the offsets whose type byte is zero (a run of
// zero bytes holds only zero type bytes; in any other run every offset is
// looked at), so the offsets examined, and their order, are those of a
// plain scan: what recovery finds, and so every verdict, is unchanged.

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
        assert(typeOffset + alignment <= JournalFormat.fragmentHeaderBytes, "a run's bytes end inside its last offset's header")
        guard let base = baseAddress else { return nil }
        let runBytes = Self.candidateRunBytes
        let blockBytes = Self.zeroBlockBytes
        var p = Swift.max(from, 0)
        while p <= limit {
            // A whole block or run of offsets, all at or below the limit:
            // its type bytes lie in the bytes from p + typeOffset, below
            // `count`. All of those zero: no offset of it is a candidate.
            if p + blockBytes - alignment <= limit && memcmp(base + p + typeOffset, Self.zeroBlock, blockBytes) == 0 {
                p += blockBytes
                continue
            }
            if p + runBytes - alignment <= limit {
                if memcmp(base + p + typeOffset, Self.zeroBlock, runBytes) != 0 {
                    // Some byte of the run is not zero: the first offset
                    // whose type byte is not, if any.
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

    /// Bytes of offsets one comparison with zeros covers: 32 offsets.
    static let candidateRunBytes = 256
    /// Bytes of the larger step over zeros, and of `zeroBlock`.
    static let zeroBlockBytes = 4096
    /// `zeroBlockBytes` zeros, never written after they are set.
    nonisolated(unsafe) static let zeroBlock: UnsafeRawPointer = {
        let zeros = UnsafeMutableRawPointer.allocate(byteCount: zeroBlockBytes, alignment: 64)
        memset(zeros, 0, zeroBlockBytes)
        return UnsafeRawPointer(zeros)
    }()
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
