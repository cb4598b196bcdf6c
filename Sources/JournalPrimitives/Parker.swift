public import CJournalConcurrency

/// A one-thread parking spot over a futex: `park` blocks until `unpark`,
/// and an `unpark` that comes first makes the next `park` return at once.
/// Lets the journal's writer (and a write group's leader) wake exactly the
/// threads whose work is done, rather than every waiter on a shared
/// condition.
public final class Parker: @unchecked Sendable {
    // @unchecked: the futex word is only touched by the C functions, with
    // atomic operations (release in unpark, acquire in park).
    @usableFromInline let state: UnsafeMutablePointer<UInt32>

    public init() {
        state = .allocate(capacity: 1)
        state.initialize(to: 0)
    }

    deinit { state.deallocate() }

    /// Blocks until `unpark` (at once if it came first), consuming it.
    @inlinable public func park() { cjournal_park(state) }
    /// Wakes the parked thread, or makes its next `park` return at once.
    @inlinable public func unpark() { cjournal_unpark(state) }
}
