import JournalPrimitives
import KeyValueStore
import PageStore

/// The node's key-value store, which a raft snapshot installed from the
/// leader replaces: the store is closed, its pages replaced in one atomic
/// step (`KeyValueStore.installPages`) and the store opened again. Whoever
/// reads `store` gets the store open now; a read in flight on the old one
/// fails with `closed`.
final class KVStoreBox: @unchecked Sendable {
    let location: PageStoreLocation
    let options: PageStoreOptions
    private let current: LockedValue<KeyValueStore>

    init(store: KeyValueStore, location: PageStoreLocation, options: PageStoreOptions) {
        self.location = location
        self.options = options
        current = LockedValue(store)
    }

    /// The store open now.
    var store: KeyValueStore { current.withLock { $0 } }

    /// Makes `pages` the store's whole state; on return the store open now
    /// holds exactly them. If installing fails the old state stays and is
    /// opened again; if even that fails the error says so (the node must
    /// stop).
    func install(_ pages: UnsafeRawBufferPointer, pageBytes: Int) throws(KeyValueError) {
        store.close()
        do throws(KeyValueError) {
            try KeyValueStore.installPages(pages, pageBytes: pageBytes, location: location, options: options)
        } catch {
            if let reopened = try? KeyValueStore.open(location: location, options: options) {
                current.withLock { $0 = reopened }
            }
            throw error
        }
        let reopened = try KeyValueStore.open(location: location, options: options)
        current.withLock { $0 = reopened }
    }

    /// Closes the store open now.
    func close() { store.close() }
}
