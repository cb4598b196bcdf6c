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
// confirmed by a real decode. The key is the raw register after the salt's
// 8 bytes then 36 zeros, linear in the salt's bytes, so the table is filled
// with eight byte lookups per candidate rather than checksums; and the last
// few tables built are kept (`cached`), over whole blocks of 2^16 epochs so
// that searches whose ranges differ a little share one: an open runs
// several searches over the same file, and a reader's and a writer's
// recovery, or every salvage pass, search the same files again.

/// The candidate activation epochs of one file, tabulated by the checksum
/// key each one's salt gives.
struct DerivedSaltSearch {
    /// The epochs tabulated: the range of a search, or one containing it.
    let epochs: ClosedRange<UInt32>
    private let journalID: UInt64
    private let index: UInt64
    /// Open addressing: a slot is 0 (empty) or `key << 32 | epoch` (epochs
    /// are at least 1), probed linearly from slot `key & mask`. Candidates
    /// with the same key (rare: 32-bit keys) each have a slot.
    private let slots: [UInt64]
    private let mask: Int

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
        precondition(epochs.lowerBound >= 1, "epoch 0 would read as an empty slot")
        self.journalID = journalID
        self.index = index
        self.epochs = epochs
        let capacity = 1 << (Int.bitWidth - (2 * epochs.count - 1).leadingZeroBitCount)
        let mask = capacity - 1
        // Up to 2^20 candidates: the loop runs on raw buffers (every index
        // is masked or below 8 * 256 + 1).
        self.slots = Self.saltTables.withUnsafeBufferPointer { tables in
            [UInt64](unsafeUninitializedCapacity: capacity) { slots, initialized in
                slots.initialize(repeating: 0)
                for epoch in epochs {
                    let key = Self.key(salt: JournalFormat.salt(journalID: journalID, index: index, epoch: epoch), tables)
                    var i = Int(key) & mask
                    while slots[i] != 0 { i = (i + 1) & mask }
                    slots[i] = UInt64(key) << 32 | UInt64(epoch)
                }
                initialized = capacity
            }
        }
        self.mask = mask
    }

    /// The search for `epochs` of this file: a table built earlier in this
    /// process that contains them, or a new one over the whole blocks of
    /// `epochMargin` epochs around them (kept in place of the least
    /// recently used).
    static func cached(journalID: UInt64, index: UInt64, epochs: ClosedRange<UInt32>) -> DerivedSaltSearch {
        let hit = recent.withLock { tables -> DerivedSaltSearch? in
            guard let i = tables.firstIndex(where: {
                $0.journalID == journalID && $0.index == index && $0.epochs.lowerBound <= epochs.lowerBound
                    && $0.epochs.upperBound >= epochs.upperBound
            }) else { return nil }
            // Most recently used last: the oldest use goes first.
            let table = tables.remove(at: i)
            tables.append(table)
            return table
        }
        if let hit { return hit }
        let block = UInt64(epochMargin)
        let bottom = UInt32(max(1, UInt64(epochs.lowerBound) / block * block))
        let top = UInt32((UInt64(epochs.upperBound) / block + 1) * block - 1)
        let built = DerivedSaltSearch(journalID: journalID, index: index, epochs: bottom...top)
        recent.withLock { tables in
            tables.append(built)
            while tables.reduce(0, { $0 + $1.slots.count }) > slotsKeptMax && tables.count > 1 { tables.removeFirst() }
        }
        return built
    }

    /// The most slots the kept tables hold together (8 bytes each).
    static let slotsKeptMax = 1 << 22
    private static let recent = LockedValue<[DerivedSaltSearch]>([])

    /// The highest candidate activation epoch in `range`, not above the
    /// fragment's own epoch, under whose salt the fragment header at
    /// `offset` validates; nil when none does.
    func epoch(forHeaderAt offset: Int, in bytes: UnsafeRawBufferPointer, within range: ClosedRange<UInt32>) -> UInt32? {
        guard offset >= 0, offset + JournalFormat.fragmentHeaderBytes <= bytes.count else { return nil }
        let key = bytes.le32(offset) ^ CRC32C.update(0xFFFF_FFFF, bytes.slice(offset + 4, JournalFormat.fragmentHeaderBytes - 4))
        let ownEpoch = bytes.le32(offset + 36)
        var candidates: [UInt32] = []
        var i = Int(key) & mask
        while slots[i] != 0 {
            let epoch = UInt32(truncatingIfNeeded: slots[i])
            if UInt32(slots[i] >> 32) == key && range.contains(epoch) && epoch <= ownEpoch { candidates.append(epoch) }
            i = (i + 1) & mask
        }
        for epoch in candidates.sorted(by: >) {
            let seed = FragmentHeader.seed(salt: JournalFormat.salt(journalID: journalID, index: index, epoch: epoch))
            if FragmentHeader.decode(bytes, at: offset, seed: seed) != nil { return epoch }
        }
        return nil
    }

    /// The table key of `salt`: the raw CRC32C register after the salt's 8
    /// bytes (from the initial register) then 36 zeros, which is
    /// `~CRC32C.update(FragmentHeader.seed(salt: salt), 36 zeros)`. Linear
    /// in the salt's bytes past a constant, so one lookup per byte.
    static func key(salt: UInt64) -> UInt32 {
        saltTables.withUnsafeBufferPointer { key(salt: salt, $0) }
    }

    private static func key(salt: UInt64, _ t: UnsafeBufferPointer<UInt32>) -> UInt32 {
        var key = t[8 * 256]
        for k in 0..<8 { key ^= t[256 * k + Int(salt >> (8 * UInt64(k)) & 0xFF)] }
        return key
    }

    /// At `256 * k + b`: the raw register after 44 bytes, all zero but byte
    /// `b` at position `k`, from register 0; at `8 * 256`: the register
    /// after 44 zeros from the initial register 0xFFFFFFFF.
    private static let saltTables: [UInt32] = {
        let count = 8 + JournalFormat.fragmentHeaderBytes - 4
        var bytes = [UInt8](repeating: 0, count: count)
        var table: [UInt32] = []
        table.reserveCapacity(8 * 256 + 1)
        for k in 0..<8 {
            for b in 0..<256 {
                bytes[k] = UInt8(b)
                table.append(bytes.withUnsafeBytes { ~CRC32C.update(0xFFFF_FFFF, $0) })
            }
            bytes[k] = 0
        }
        table.append(bytes.withUnsafeBytes { ~CRC32C.update(0, $0) })
        return table
    }()
}
