/// One write of a batch.
public enum KeyValueOperation: Sendable, Equatable {
    /// Sets `key` to `value`, replacing any value it had.
    case put(key: [UInt8], value: [UInt8])
    /// Removes `key` if it is there.
    case delete(key: [UInt8])
}
