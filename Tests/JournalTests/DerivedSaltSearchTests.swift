@testable import Journal
import JournalPrimitives
import Testing

/// The derived-salt search (journal-format.md, section 7.4) finds the
/// activation epoch of a fragment header from a table of checksum keys.
@Suite struct DerivedSaltSearchTests {
    /// The table's key, eight byte lookups, is the checksum of 36 zero
    /// bytes under the salt's seed, as the search's lookup expects.
    @Test func keysAreTheChecksumOfZerosUnderTheSeed() {
        let zeros = [UInt8](repeating: 0, count: 36)
        var random = SplitMix64(seed: 17)
        for salt in [0, 1, UInt64.max, 1 << 63] + (0..<200).map({ _ in random.next() }) {
            let direct = zeros.withUnsafeBytes { ~CRC32C.update(FragmentHeader.seed(salt: salt), $0) }
            #expect(DerivedSaltSearch.key(salt: salt) == direct, "salt \(salt)")
        }
    }

    /// A header written under the salt of epoch 5 is found in a search of
    /// 1...70000, whether the table is new or kept from an earlier search,
    /// and not in a search whose range leaves 5 out, even in a table that
    /// holds it.
    @Test func findsTheEpochOfAHeader() {
        let journalID: UInt64 = 0x1234_5678_9ABC_DEF0
        var buffer = [UInt8](repeating: 0, count: 64)
        let seed = FragmentHeader.seed(salt: JournalFormat.salt(journalID: journalID, index: 3, epoch: 5))
        _ = buffer.withUnsafeMutableBytes {
            FragmentHeader.encode(into: $0, at: 8, seed: seed, payloadCRC: 1, previousCRC: 2, length: 0, lsn: 9,
                                  committedLSN: 8, type: .full, epoch: 7)
        }
        for _ in 0..<2 {
            let search = DerivedSaltSearch.cached(journalID: journalID, index: 3, epochs: 1...70_000)
            #expect(buffer.withUnsafeBytes { search.epoch(forHeaderAt: 8, in: $0, within: 1...70_000) } == 5)
            #expect(buffer.withUnsafeBytes { search.epoch(forHeaderAt: 8, in: $0, within: 6...70_000) } == nil)
        }
        let without = DerivedSaltSearch(journalID: journalID, index: 3, epochs: 6...70_000)
        #expect(buffer.withUnsafeBytes { without.epoch(forHeaderAt: 8, in: $0, within: 6...70_000) } == nil)
    }
}
