public import Journal
public import PageStore
import JournalPrimitives

// The store's pages as a whole, to copy its state to another store (a
// replica that fell behind): `exportPages` reads the pages the tree uses at
// one durable commit, `installPages` makes them the whole state of a closed
// store, atomically (`PageStore.installSnapshot`).

/// The pages of a key-value store at one commit: page 0 (the meta page)
/// through the last page the tree ever allocated.
public struct KeyValuePages: Sendable {
    /// The commit the pages hold: every batch at or below it, none above.
    public var lsn: LSN
    /// The store's page size.
    public var pageBytes: Int
    /// The page images back to back, page 0 first.
    public var bytes: [UInt8]

    public init(lsn: LSN, pageBytes: Int, bytes: [UInt8]) {
        self.lsn = lsn
        self.pageBytes = pageBytes
        self.bytes = bytes
    }

    /// How many pages `bytes` holds.
    public var pageCount: Int { bytes.count / pageBytes }
}

extension KeyValueStore {
    /// The pages of the newest durable state: one read transaction, so the
    /// pages are those of one commit however many writes go on meanwhile.
    /// Call it right after `checkpoint()` and the pages come from the data
    /// file the checkpoint wrote, with no journal record to apply.
    ///
    /// Never waits for writers. Thread-safe.
    ///
    /// - Throws: `KeyValueError.store` for the page store's failures,
    ///   `.corruption` when the meta page is damaged.
    /// - Complexity: O(pages allocated × page bytes).
    public func exportPages() throws(KeyValueError) -> KeyValuePages {
        let pageBytes = self.pageBytes
        let tx: ReadTransaction
        do { tx = try pageStore.beginRead() } catch { throw .store(error) }
        defer { tx.end() }
        let first: [UInt8]
        do { first = try tx.read(page: 0) } catch { throw .store(error) }
        let pageCount = try Meta.decode(first).map { Int(clamping: $0.nextPage) } ?? 1
        guard pageCount >= 1, UInt64(pageCount) <= pageStore.pageCountMax else {
            throw .corruption(page: 0, detail: "\(pageCount) pages allocated, beyond the store's limit")
        }
        var bytes = [UInt8](repeating: 0, count: pageCount * pageBytes)
        first.withUnsafeBytes { src in bytes.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
        try withMutableBytes(&bytes) { (all: UnsafeMutableRawBufferPointer) throws(KeyValueError) in
            for page in 1..<pageCount {
                let slice = UnsafeMutableRawBufferPointer(rebasing: all[(page * pageBytes)..<((page + 1) * pageBytes)])
                do throws(PageStoreError) { try tx.read(page: UInt64(page), into: slice) } catch { throw .store(error) }
            }
        }
        return KeyValuePages(lsn: tx.lsn, pageBytes: pageBytes, bytes: bytes)
    }

    /// Makes `pages` (from `exportPages` of a store with the same page
    /// size) the whole state of the store at `location`, which must not be
    /// open: atomically, a crash leaves the old state or the new one (see
    /// `PageStore.installSnapshot`). Open the store again afterwards.
    ///
    /// - Throws: `KeyValueError.corruption` when page 0 is not a meta page
    ///   (or empty), `.store(.invalidArgument)` for another page size, and
    ///   what `PageStore.installSnapshot` throws.
    public static func installPages(
        _ pages: UnsafeRawBufferPointer, pageBytes: Int, location: PageStoreLocation, options: PageStoreOptions = PageStoreOptions()
    ) throws(KeyValueError) {
        guard pages.count >= pageBytes else { throw .corruption(page: 0, detail: "no meta page among the pages to install") }
        _ = try Meta.decode(UnsafeRawBufferPointer(rebasing: pages[0..<pageBytes]))
        do { try PageStore.installSnapshot(location: location, options: options, pageBytes: pageBytes, pages: pages) } catch {
            throw .store(error)
        }
    }
}
