import Testing

@Suite("Register history checker")
struct RegisterHistoryTests {
    /// Builds a history from (kind, value, start, end) tuples on key 0.
    func history(_ ops: [(RegisterHistory.Kind, UInt64, Int, Int?)]) -> RegisterHistory {
        var h = RegisterHistory()
        for (kind, value, start, end) in ops {
            h.operations.append(RegisterHistory.Operation(kind: kind, key: 0, value: value, start: start, end: end))
        }
        return h
    }

    @Test("linearizable histories pass")
    func accepts() {
        #expect(history([(.write, 1, 1, 2), (.read, 1, 3, 4), (.write, 2, 5, 6), (.read, 2, 7, 8)]).violation() == nil)
        // Concurrent write and read: the read may see either value.
        #expect(history([(.write, 1, 1, 2), (.write, 2, 3, 6), (.read, 1, 4, 5)]).violation() == nil)
        #expect(history([(.write, 1, 1, 2), (.write, 2, 3, 6), (.read, 2, 4, 5)]).violation() == nil)
        // An unknown write that a read saw.
        #expect(history([(.write, 1, 1, nil), (.read, 1, 5, 6)]).violation() == nil)
        #expect(history([(.read, 0, 1, 2), (.write, 1, 3, 4)]).violation() == nil)
    }

    @Test("lost writes, stale reads and reads from nowhere fail")
    func rejects() {
        // A write acknowledged, then an older value read: the write was lost.
        #expect(history([(.write, 1, 1, 2), (.write, 2, 3, 4), (.read, 1, 5, 6)]).violation() != nil)
        // The initial value read after a write completed.
        #expect(history([(.write, 1, 1, 2), (.read, 0, 3, 4)]).violation() != nil)
        // A value no one wrote.
        #expect(history([(.read, 9, 1, 2)]).violation() != nil)
        // A read that completes before its write starts.
        #expect(history([(.read, 1, 1, 2), (.write, 1, 3, 4)]).violation() != nil)
        // Two reads that see the writes in opposite orders.
        #expect(history([(.write, 1, 1, 10), (.write, 2, 1, 10), (.read, 1, 2, 3), (.read, 2, 4, 5), (.read, 1, 6, 7)]).violation() != nil)
    }
}
