public import PageStore

/// Every way a key-value operation can fail.
public enum KeyValueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The page store (or its journal) failed; its error, unchanged.
    case store(PageStoreError)
    /// A key longer than `KeyValueStore.keyBytesMax`; nothing was written.
    case keyTooLarge(bytes: Int, max: Int)
    /// Key plus value longer than `KeyValueStore.entryBytesMax`; nothing
    /// was written.
    case entryTooLarge(bytes: Int, max: Int)
    /// A tree page that fails validation.
    case corruption(page: UInt64, detail: String)
    /// A tree written by a newer version of the format than this code reads.
    case newerFormat(found: UInt16, supported: UInt16)

    /// One line naming what failed.
    public var description: String {
        switch self {
        case .store(let e): "\(e)"
        case .keyTooLarge(let b, let m): "key of \(b) bytes exceeds the maximum of \(m) bytes"
        case .entryTooLarge(let b, let m): "key plus value of \(b) bytes exceeds the maximum of \(m) bytes"
        case .corruption(let p, let d): "corrupt B+tree page \(p): \(d)"
        case .newerFormat(let f, let s): "the key-value store uses format version \(f); this build reads up to \(s)"
        }
    }
}
