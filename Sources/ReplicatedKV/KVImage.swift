import JournalPrimitives

/// The replicated store's state as raft's snapshot data: magic u64
/// ("RKVIMAGE"), the raft index of the last command applied u64, the pair
/// count u64, then per pair key length u16, value length u32, key, value.
/// Specified in raft-log-format.md, section 6.
struct KVImage: Equatable {
    static let magic: UInt64 = 0x4547_414D_4956_4B52
    var appliedIndex: UInt64
    var pairs: [(key: [UInt8], value: [UInt8])]

    static func == (a: KVImage, b: KVImage) -> Bool {
        a.appliedIndex == b.appliedIndex && a.pairs.elementsEqual(b.pairs) { $0.key == $1.key && $0.value == $1.value }
    }

    var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(24 + pairs.reduce(0) { $0 + 6 + $1.key.count + $1.value.count })
        func put(_ v: UInt64, _ bytes: Int) { for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        put(Self.magic, 8)
        put(appliedIndex, 8)
        put(UInt64(pairs.count), 8)
        for pair in pairs {
            put(UInt64(pair.key.count), 2)
            put(UInt64(pair.value.count), 4)
            out += pair.key
            out += pair.value
        }
        return out
    }

    /// The image in `bytes`, or nil when they do not decode to exactly one.
    init?(decoding b: UnsafeRawBufferPointer) {
        guard b.count >= 24, b.le64(0) == Self.magic else { return nil }
        appliedIndex = b.le64(8)
        let count = b.le64(16)
        var offset = 24
        pairs = []
        var left = count
        while left > 0 {
            guard offset + 6 <= b.count else { return nil }
            let k = Int(b.le16(offset)), v = Int(b.le32(offset + 2))
            offset += 6
            guard offset + k + v <= b.count else { return nil }
            pairs.append((Array(b[offset..<(offset + k)]), Array(b[(offset + k)..<(offset + k + v)])))
            offset += k + v
            left -= 1
        }
        guard offset == b.count else { return nil }
    }

    init(appliedIndex: UInt64, pairs: [(key: [UInt8], value: [UInt8])]) {
        self.appliedIndex = appliedIndex
        self.pairs = pairs
    }
}
