internal import CJournalShims

/// A one-thread parking spot over a futex: `park` blocks until `unpark`,
/// and an `unpark` that comes first makes the next `park` return at once.
/// Lets the writer wake exactly the appenders whose records became durable,
/// rather than every waiter on a shared condition.
final class Parker: @unchecked Sendable {
    private let state: UnsafeMutablePointer<UInt32>

    init() {
        state = .allocate(capacity: 1)
        state.initialize(to: 0)
    }

    deinit { state.deallocate() }

    func park() { cjournal_park(state) }
    func unpark() { cjournal_unpark(state) }
}
