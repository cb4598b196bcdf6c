public import PageStore

public enum KeyValueError: Error, Sendable, Equatable, CustomStringConvertible {
    case store(PageStoreError)
    case keyTooLarge(bytes: Int, max: Int)
    case entryTooLarge(bytes: Int, max: Int)
    case corruption(page: UInt64, detail: String)
    case newerFormat(found: UInt16, supported: UInt16)

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
