import Journal
import JournalPrimitives
import JournalStorage
import PagedFile

// Reading a slot that a writer in another process may rewrite meanwhile
// (Docs/page-store.md, "Readers beside a writer"; Tools/promela/slotread.pml).
//
// A checkpoint recreates a slot before it writes it (a zero-filled file,
// so the header is invalid from the first moment), writes pages and table,
// and writes the header last with a sequence above every earlier one. A
// reader therefore
//
//   1. opens the slot once and reads its header through that handle: it
//      must be the header the reader chose (else the slot moved: retry);
//   2. reads the table and every page through the same handle, verifying
//      each page against the table;
//   3. reads the header again through the same handle.
//
// The pages are the snapshot of that header when both header reads agree
// and every checksum holds. A rewrite that began before step 3 changed the
// header the handle sees (zeroed, or a higher sequence once complete), so a
// mix of old and new bytes never passes. On a file system the writer's
// remove-and-create leaves the reader's handle on the old file, whose bytes
// never change: the reads agree. A checksum failure under an unchanged
// header is damage, not a race.

extension SnapshotIO {
    /// The outcome of one stable read of a slot.
    enum StableRead {
        /// The pages of `header`, loaded and verified.
        case loaded(SnapshotHeader)
        /// The slot changed under the reader (absent, rewritten or being
        /// rewritten): choose again.
        case changed(String)
        /// The slot kept its header but fails its checksums.
        case damaged(PageStoreError)
    }

    /// Steps 1-3 above: loads slot `slot`, expected to hold `expected`, into
    /// `dataFile`.
    func loadStable(slot: Int, expected: SnapshotHeader, into dataFile: PagedFile) throws(PageStoreError) -> StableRead {
        let name = SnapshotHeader.slotNames[slot]
        let file: any StorageFile
        do {
            file = try storage.openReadOnly(name)
        } catch {
            if error.errno == .noSuchFileOrDirectory { return .changed("\(name) was removed") }
            throw PageStoreError.from(error)
        }
        defer { file.close() }
        guard try header(of: file) == expected else { return .changed("\(name) was rewritten before it was read") }
        do throws(PageStoreError) {
            try load(file: file, slot: slot, header: expected, into: dataFile)
        } catch {
            switch error {
            case .corruption:
                guard try header(of: file) == expected else { return .changed("\(name) was rewritten while it was read") }
                return .damaged(error)
            default:
                throw error
            }
        }
        guard try header(of: file) == expected else { return .changed("\(name) was rewritten while it was read") }
        return .loaded(expected)
    }

    /// The header `file` holds now, if valid.
    private func header(of file: any StorageFile) throws(PageStoreError) -> SnapshotHeader? {
        let buffer = AlignedBuffer(count: SnapshotHeader.headerBytes(alignment: alignment), alignment: alignment)
        let count: Int
        do { count = try file.read(into: buffer.bytes, at: 0) } catch { throw PageStoreError.from(error) }
        guard case .valid(let h) = SnapshotHeader.decode(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count])) else { return nil }
        return h
    }
}
