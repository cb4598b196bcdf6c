import JournalPrimitives
import KeyValueStore
import PageStore

/// The node's key-value store, which a raft snapshot installed from the
/// leader replaces: the store is closed, its pages replaced in one atomic
/// step (`KeyValueStore.installPages`) and the store opened again. Whoever
/// reads `store` gets the store open now, waiting while an install runs;
/// `withStore` also runs again a read that the install closed the store
/// under, so a read in flight never fails because of an install.
final class KVStoreBox: @unchecked Sendable {
    // @unchecked: `current` and `installing` are guarded by `lock`.
    let location: PageStoreLocation
    let options: PageStoreOptions
    private let lock = ConditionLock()
    private let installed: ConditionLock.Condition
    private var current: KeyValueStore
    private var installing = false

    init(store: KeyValueStore, location: PageStoreLocation, options: PageStoreOptions) {
        self.location = location
        self.options = options
        current = store
        installed = ConditionLock.Condition(lock)
    }

    /// The store open now; while an install runs (on another thread than
    /// the caller's), the store it opens.
    var store: KeyValueStore {
        lock.withLock {
            while installing { installed.wait() }
            return current
        }
    }

    /// The store's limits on a key and on a key plus value, without waiting
    /// for an install (the loop reads them; they are the configuration's).
    var limits: (keyBytesMax: Int, entryBytesMax: Int) {
        lock.withLock { (current.keyBytesMax, current.entryBytesMax) }
    }

    /// Runs `body` on the store open now; if an install closed that store
    /// under it (`body` failed and the store open now is another), runs it
    /// again on the new one. For reads off the loop.
    func withStore<R>(_ body: (KeyValueStore) throws(KeyValueError) -> R) throws(KeyValueError) -> R {
        while true {
            let kv = store
            do { return try body(kv) } catch {
                if store === kv { throw error }
            }
        }
    }

    /// Makes `pages` the store's whole state; on return the store open now
    /// holds exactly them. If installing fails the old state stays and is
    /// opened again; if even that fails the error says so (the node must
    /// stop). Readers wait meanwhile.
    func install(_ pages: UnsafeRawBufferPointer, pageBytes: Int) throws(KeyValueError) {
        let old = lock.withLock {
            installing = true
            return current
        }
        defer {
            lock.withLock {
                installing = false
                installed.broadcast()
            }
        }
        old.close()
        do throws(KeyValueError) {
            try KeyValueStore.installPages(pages, pageBytes: pageBytes, location: location, options: options)
        } catch {
            if let reopened = try? KeyValueStore.open(location: location, options: options) {
                lock.withLock { current = reopened }
            }
            throw error
        }
        let reopened = try KeyValueStore.open(location: location, options: options)
        lock.withLock { current = reopened }
    }

    /// Closes the store open now.
    func close() { store.close() }
}
