import JournalPrimitives

// The salt of a segment file whose header cannot be used (blank, damaged,
// stale or invalid) is derived from the journal, the file's index and the
// epoch of the session that activated it (journal-format.md, section 4).
// That epoch is unknown: recovery searches a bounded range of epochs for one
// under whose salt a fragment header in the file validates (section 7.4).
//
// Trying every candidate epoch on every plausible fragment header costs
// (epochs x headers) checksums: billions for a garbage epoch field near
// 2^32, and a scan of a recycled file full of old fragments would try the
// whole range at each. Instead the search uses the linearity of CRC32C: the
// header checksum of the 36 bytes after it, under seed `s`, equals
// `~R(~s, 0^36) ^ R(0, bytes)` where R is the raw CRC register update. So
// `R(~s, 0^36)`, a function of the candidate epoch alone, can be tabulated
// once per file, and each header looks up the seed it needs in O(1),
// confirmed by a real decode.

/// The candidate activation epochs of one file, tabulated by the checksum
/// key each one's salt gives.
struct DerivedSaltSearch {
    /// The range of epochs searched (journal-format.md, section 7.4).
    let epochs: ClosedRange<UInt32>
    private var epochByKey: [UInt32: UInt32] = [:]
    /// Candidates whose key another candidate already took (rare: 32-bit keys).
    private var collided: [(key: UInt32, epoch: UInt32)] = []
    private let journalID: UInt64
    private let index: UInt64

    /// Epochs above the highest one recovery can verify that a search still
    /// covers: sessions that wrote nothing visible elsewhere.
    static let epochMargin: UInt32 = 1 << 16
    /// The most epochs a search tabulates: the highest ones of its range.
    static let epochsMax: UInt32 = 1 << 20

    /// The range for a file: from `floor` (the lowest epoch that can have
    /// activated it) to `verifiedEpochMax + epochMargin`, cut to its
    /// `epochsMax` highest epochs. Empty when `floor` is above the top.
    static func range(floor: UInt32, verifiedEpochMax: UInt32) -> ClosedRange<UInt32>? {
        let top = verifiedEpochMax > UInt32.max - epochMargin ? UInt32.max : verifiedEpochMax + epochMargin
        let bottom = max(floor, 1, top >= epochsMax ? top - (epochsMax - 1) : 1)
        return bottom <= top ? bottom...top : nil
    }

    init(journalID: UInt64, index: UInt64, epochs: ClosedRange<UInt32>) {
        self.journalID = journalID
        self.index = index
        self.epochs = epochs
        let zeros = [UInt8](repeating: 0, count: JournalFormat.fragmentHeaderBytes - 4)
        epochByKey.reserveCapacity(epochs.count)
        zeros.withUnsafeBytes { zeros in
            for epoch in epochs {
                let key = ~CRC32C.update(Self.seed(journalID, index, epoch), zeros)
                if let previous = epochByKey.updateValue(epoch, forKey: key) {
                    // Keep the first; remember the other.
                    epochByKey[key] = previous
                    collided.append((key, epoch))
                }
            }
        }
    }

    private static func seed(_ journalID: UInt64, _ index: UInt64, _ epoch: UInt32) -> UInt32 {
        FragmentHeader.seed(salt: JournalFormat.salt(journalID: journalID, index: index, epoch: epoch))
    }

    /// The highest candidate activation epoch, not above the fragment's own
    /// epoch, under whose salt the fragment header at `offset` validates;
    /// nil when none does.
    func epoch(forHeaderAt offset: Int, in bytes: UnsafeRawBufferPointer) -> UInt32? {
        guard offset >= 0, offset + JournalFormat.fragmentHeaderBytes <= bytes.count else { return nil }
        let key = bytes.le32(offset) ^ CRC32C.update(0xFFFF_FFFF, bytes.slice(offset + 4, JournalFormat.fragmentHeaderBytes - 4))
        let ownEpoch = bytes.le32(offset + 36)
        var candidates: [UInt32] = []
        if let epoch = epochByKey[key] { candidates.append(epoch) }
        for c in collided where c.key == key { candidates.append(c.epoch) }
        for epoch in candidates.sorted(by: >) where epoch <= ownEpoch {
            if FragmentHeader.decode(bytes, at: offset, seed: Self.seed(journalID, index, epoch)) != nil { return epoch }
        }
        return nil
    }
}
