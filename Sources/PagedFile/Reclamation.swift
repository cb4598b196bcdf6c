import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Epoch-based protection of pages that readers may be copying from.
///
/// A sleepable-RCU scheme with two epoch parities and striped reader counts:
///
/// - A reader reads the epoch `e`, increments `count[e & 1][stripe]`, and
///   re-reads the epoch. If it changed, the reader undoes the increment and
///   retries; otherwise it may load page-table slots and copy pages until it
///   decrements the count on exit.
/// - A reclaimer first unpublishes pages (so no new reader can reach them),
///   then `synchronize()`s: it advances the epoch and waits until every stripe
///   of the old parity reads zero. After that, no reader can still hold a page
///   it unpublished, and the pages may be zeroed and reused.
///
/// Why one flip suffices: all these operations are sequentially consistent.
/// A reader whose re-read saw the old epoch did so before the flip, so its
/// increment precedes the flip and the wait sees it. A reader whose increment
/// the wait did not see made it after the flip, so its re-read sees a new
/// epoch and it retries; its slot loads then follow the unpublication.
///
/// Readers never wait. Reclaimers wait only for readers already inside,
/// whose work is one bounded copy. Reclaimers must be serialized by the caller
/// (the file's resize mutex).
final class ReaderEpochs: @unchecked Sendable {
    // @unchecked: state is atomics in memory owned by this object.

    struct Token {
        let slot: Int
    }

    static let stripeBits = 3
    static let stripeCount = 1 << stripeBits
    /// Counters sit 128 bytes apart so that threads on different stripes
    /// don't share a cache line (or an adjacent-line prefetch pair).
    static let strideWords = 16

    private let epoch: UnsafeMutablePointer<Atomic<UInt>>
    private let counts: UnsafeMutablePointer<Atomic<Int>>
    private static let countSlots = 2 * stripeCount

    init() {
        epoch = .allocate(capacity: Self.strideWords)
        for i in 0 ..< Self.strideWords { (epoch + i).initialize(to: Atomic(0)) }
        counts = .allocate(capacity: Self.countSlots * Self.strideWords)
        for i in 0 ..< Self.countSlots * Self.strideWords { (counts + i).initialize(to: Atomic(0)) }
    }

    deinit {
        for parity in 0 ..< 2 { assert(sum(parity: parity) == 0, "epochs destroyed with readers inside") }
        epoch.deinitialize(count: Self.strideWords)
        epoch.deallocate()
        counts.deinitialize(count: Self.countSlots * Self.strideWords)
        counts.deallocate()
    }

    @inline(__always)
    private func count(parity: Int, stripe: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        counts + (parity * Self.stripeCount + stripe) * Self.strideWords
    }

    /// Enters a read-side critical section. Lock-free; wait-free unless a
    /// reclaimer flips the epoch between the two reads.
    @inline(__always)
    func enter() -> Token {
        let stripe = VirtualMemory.threadHash(bits: Self.stripeBits)
        while true {
            let e = epoch.pointee.load(ordering: .sequentiallyConsistent)
            let slot = Int(e & 1) * Self.stripeCount + stripe
            let c = counts + slot * Self.strideWords
            c.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if epoch.pointee.load(ordering: .sequentiallyConsistent) == e {
                return Token(slot: slot)
            }
            c.pointee.wrappingSubtract(1, ordering: .releasing)
        }
    }

    /// Leaves the critical section entered with `token`.
    @inline(__always)
    func exit(_ token: Token) {
        let (_, after) = (counts + token.slot * Self.strideWords).pointee
            .wrappingSubtract(1, ordering: .releasing)
        assert(after >= 0, "reader count went negative")
    }

    /// Waits until every reader that might have loaded a page-table slot
    /// before this call has left. Callers serialize (one reclaimer at a time).
    /// - Complexity: O(stripes) plus the wait for readers inside.
    func synchronize() {
        let (old, _) = epoch.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
        let parity = Int(old & 1)
        for stripe in 0 ..< Self.stripeCount {
            let c = count(parity: parity, stripe: stripe)
            var spins = 0
            while c.pointee.load(ordering: .sequentiallyConsistent) != 0 {
                spins += 1
                if spins > 64 { sched_yield() }
            }
        }
    }

    private func sum(parity: Int) -> Int {
        var total = 0
        for stripe in 0 ..< Self.stripeCount {
            total += count(parity: parity, stripe: stripe).pointee.load(ordering: .acquiring)
        }
        return total
    }
}
