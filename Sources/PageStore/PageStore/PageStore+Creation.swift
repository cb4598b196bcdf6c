import Journal
import JournalStorage

// Creating a store: the journal first, then `store.meta`, the completion
// mark. A create interrupted before the mark leaves files that the next
// create removes and that open refuses (Docs/page-store.md, "Files").

extension PageStore {
    /// Creates an empty store: its journal, then `store.meta`, the
    /// completion mark (written under a temporary name and renamed, so it is
    /// absent or whole). A location that holds the leftovers of a create
    /// that was interrupted before `store.meta` (the journal's metadata and
    /// temporary files, no segment, no snapshot) is cleaned and created
    /// afresh: nothing was ever committed there.
    ///
    /// Fails with `alreadyExists` when the location holds a store, or files
    /// of a journal or snapshots without `store.meta` (data this call will
    /// not remove), and with `invalidArgument` for an inconsistent
    /// configuration.
    ///
    /// Durable when it returns. Takes the location's lock for the
    /// duration; fails with `locked` while a process has the store open.
    public static func create(location: PageStoreLocation, configuration: PageStoreConfiguration = PageStoreConfiguration()) throws(PageStoreError) {
        let pageBytes = configuration.pageBytes
        guard pageBytes >= 4096, pageBytes <= 64 << 10, pageBytes.nonzeroBitCount == 1 else {
            throw .invalidArgument("pageBytes must be a power of two from 4 KiB to 64 KiB")
        }
        guard pageBytes % location.root.ioAlignment == 0 else {
            throw .invalidArgument("pageBytes \(pageBytes) is not a multiple of the I/O alignment \(location.root.ioAlignment)")
        }
        guard configuration.pageCountMax >= 1, configuration.pageCountMax <= UInt64(Int.max) / UInt64(pageBytes) / 2 else {
            throw .invalidArgument("pageCountMax out of range")
        }
        guard configuration.transactionPagesMax >= 1 else {
            throw .invalidArgument("the journal's recordBytesMax cannot hold a one-page transaction")
        }
        let hold: (any StorageLock)?
        do { hold = location.sharesDirectory ? nil : try location.root.lockExclusive() } catch { throw PageStoreError.from(error) }
        defer { hold?.unlock() }
        if location.sharesDirectory {
            // The journal takes this directory's lock itself, below.
            let cleaning: any StorageLock
            do { cleaning = try location.root.lockExclusive() } catch { throw PageStoreError.from(error) }
            defer { cleaning.unlock() }
            try removeIncompleteCreation(location)
        } else {
            try removeIncompleteCreation(location)
        }
        do {
            try Journal.create(storage: location.journal, configuration: configuration.journal)
        } catch {
            if case .alreadyExists = error { throw .alreadyExists(path: location.journal.path) }
            throw PageStoreError.from(error)
        }
        var random = SystemRandomNumberGenerator()
        let meta = StoreMetadata(pageBytes: pageBytes, pageCountMax: configuration.pageCountMax, storeID: random.next())
        try meta.write(to: location.root)
    }

    /// What a location holds before `create` (lock held).
    enum CreationState: Equatable {
        case empty
        /// A create stopped before `store.meta`: only these files, removable.
        case incomplete(root: [String], journal: [String])
        case complete
        /// Journal segments or snapshots without `store.meta`: not ours to remove.
        case foreign(String)
    }

    static func creationState(_ location: PageStoreLocation) throws(PageStoreError) -> CreationState {
        let rootNames: [String]
        let journalNames: [String]
        do {
            rootNames = try location.root.fileNames()
            journalNames = location.sharesDirectory ? rootNames : try location.journal.fileNames()
        } catch {
            throw PageStoreError.from(error)
        }
        if rootNames.contains(StoreMetadata.fileName) { return .complete }
        if let name = rootNames.first(where: { SnapshotHeader.slotNames.contains($0) }) { return .foreign(name) }
        if let name = journalNames.first(where: { JournalFormat.segmentIndex(fileName: $0) != nil || $0.hasPrefix(JournalFormat.spareFilePrefix) }) {
            return .foreign(name)
        }
        let journalLeftovers = [JournalFormat.metadataFileName, JournalFormat.metadataFileName + ".new"]
        let root = rootNames.filter { $0 == StoreMetadata.temporaryName }
        let journal = journalNames.filter { journalLeftovers.contains($0) }
        return root.isEmpty && journal.isEmpty ? .empty : .incomplete(root: root, journal: journal)
    }

    private static func removeIncompleteCreation(_ location: PageStoreLocation) throws(PageStoreError) {
        switch try creationState(location) {
        case .empty:
            return
        case .complete:
            throw .alreadyExists(path: location.root.path)
        case .foreign(let name):
            throw .alreadyExists(path: location.root.path + " (holds \(name) but no \(StoreMetadata.fileName))")
        case .incomplete(let root, let journal):
            do {
                for name in root { try location.root.remove(name) }
                for name in journal { try location.journal.remove(name) }
            } catch {
                throw PageStoreError.from(error)
            }
        }
    }
}
