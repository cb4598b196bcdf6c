public import JournalTesting
import Journal

extension KeyValueStoreCrashWorkload {
    /// Under the bit-flip profile, flips one bit in the written region of
    /// one of the store's files (journal segments, page file, metadata)
    /// after the cut: damage at rest that recovery must report or, when it
    /// cannot tell it from a torn write (a flip in the journal's last
    /// acknowledged writes), cut, but never return as data.
    public func damage(_ disk: SimulatedDisk, seed: UInt64, model: inout Model) {
        model.misdirectedTotal = disk.misdirectedWriteCount
        guard profile == .bitFlips else { return }
        let flip = disk.flipWrittenBit(seed: seed) { _ in true }
        model.damage = flip.map { "\($0) flipped" }
        model.damageOutsideJournal = flip.map { JournalFormat.segmentIndex(fileName: $0.location.file) == nil } ?? false
    }
}
