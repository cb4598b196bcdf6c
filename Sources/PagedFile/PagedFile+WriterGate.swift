import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The writer gate: W1 and W6 for writers, T2 and T5 for truncation and
// close, as described at the top of PagedFile.swift.

extension PagedFile {
    // MARK: Writer gate

    /// How a writer got in: through its thread's slot, or through the count.
    struct WriterTicket {
        let slot: UnsafeMutablePointer<Atomic<UInt>>?
    }

    /// W1. Fast path: the thread's slot (no locked instruction); fallback:
    /// the gate's count.
    @inline(__always)
    func enterWriter() throws(PagedFileError) -> WriterTicket {
        #if DEBUG
        if writersUseCount {
            try enterThroughCount()
            return WriterTicket(slot: nil)
        }
        #endif
        if let slot = slots.currentSlot(), slot.pointee.load(ordering: .relaxed) == 0 {
            try enterThroughSlot(slot)
            return WriterTicket(slot: slot)
        }
        try enterThroughCount()
        return WriterTicket(slot: nil)
    }

    @inline(__always)
    private func enterThroughSlot(_ slot: UnsafeMutablePointer<Atomic<UInt>>) throws(PagedFileError) {
        let gate = word(Self.gateSlot)
        while true {
            WriterSlots.announce(slot, file: id)                            // W1a, W1b
            let state = gate.pointee.load(ordering: .acquiring)             // W1c
            if state & (Self.closedBit | Self.resizingBit) == 0 { return }
            WriterSlots.leave(slot)
            if state & Self.closedBit != 0 { throw .closed }
            // A resizer holds the lock while the bit is set: wait for it.
            resizeLock.withLock { _ in }
        }
    }

    private func enterThroughCount() throws(PagedFileError) {
        let gate = word(Self.gateSlot)
        while true {
            let (old, _) = gate.pointee.wrappingAdd(1, ordering: .acquiringAndReleasing)
            if old & (Self.closedBit | Self.resizingBit) == 0 { return }
            gate.pointee.wrappingSubtract(1, ordering: .releasing)
            if old & Self.closedBit != 0 { throw .closed }
            resizeLock.withLock { _ in }
        }
    }

    @inline(__always)
    func exitWriter(_ ticket: WriterTicket) {
        if let slot = ticket.slot {
            WriterSlots.leave(slot)
            return
        }
        let (_, after) = word(Self.gateSlot).pointee.wrappingSubtract(1, ordering: .releasing)
        assert(after & Self.countMask != Self.countMask, "writer gate count went negative")
    }

    /// T2: keeps new writers out and waits for the ones inside.
    func excludeWriters(closing: Bool) {
        let gate = word(Self.gateSlot)
        let bits = Self.resizingBit | (closing ? Self.closedBit : 0)
        gate.pointee.bitwiseOr(bits, ordering: .sequentiallyConsistent)      // T2a
        slots.waitForWriters(of: id)                                        // T2b, T2c
        var spins = 0
        while gate.pointee.load(ordering: .acquiring) & Self.countMask != 0 {   // T2d
            spins += 1
            if spins > 64 { sched_yield() }
        }
    }

    func admitWriters() {
        word(Self.gateSlot).pointee.bitwiseAnd(~Self.resizingBit, ordering: .releasing)
    }
}
