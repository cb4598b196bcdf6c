import CJournalConcurrency
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Per-thread writer slots with an asymmetric fence: how a writer enters and
/// leaves a file without a locked read-modify-write.
///
/// ## Why
///
/// Truncation and close must wait for the writers inside a file before they
/// free its pages (`PagedFile` steps W1, W6, T2). A shared counter does that
/// with a fetch-add on entry and a fetch-sub on exit. On x86 each is a locked
/// instruction, a full barrier that waits for the store buffer to drain: for
/// a 4 KiB write at a random offset, the drain of the previous copy's cache
/// misses. That cost about a fifth of the throughput of small writes.
///
/// ## The scheme (as in userspace RCU's "memb" flavour and folly's
/// asymmetric barrier)
///
/// Each thread owns one slot in a process-wide table (claimed on its first
/// write, given back when the thread exits). A slot holds the id of the file
/// the thread is writing, or 0.
///
///   writer (fast, frequent)            resizer (slow, rare)
///   W1a slot = file id   (plain store) T2a gate |= resizing (fetch-or)
///   W1b compiler barrier               T2b membarrier(PRIVATE_EXPEDITED)
///   W1c g = gate         (acquire)     T2c for every slot: wait while
///       if g has resizing or closed:       slot == file id (acquire)
///         slot = 0, wait, retry        T2d wait for the fallback count
///   ... W2-W5 ...
///   W6  slot = 0         (release)
///
/// The claim: if the writer's W1c sees neither bit, the resizer's T2c sees
/// the writer's slot (or its later 0 after W6), so the resizer never runs T3
/// while the writer is between W1c and W6.
///
/// The argument: `membarrier` makes every thread of the process that runs
/// during the call execute a full memory barrier at some point P of its
/// program order between the call's start and its return, and a thread that
/// does not run meanwhile passed one at its last context switch (P is then
/// that switch). The resizer's own call is a full barrier on both sides.
/// Take the writer's P relative to W1a and W1c in program order (the compiler
/// barrier W1b keeps W1a before W1c in the instruction stream; only the CPU
/// may reorder the store after the load, and P repairs that):
///  - P before W1a: W1c follows a full barrier that follows the resizer's T2a
///    (T2a precedes the call, P happens during it), so W1c sees the bit: the
///    writer backs out.
///  - P after W1a: W1a is globally visible before P, hence before membarrier
///    returns, hence before T2c loads the slot. T2c sees the id (or the 0 of
///    a later W6, which releases everything the writer did) and waits.
/// The writer's page-table loads and copies come after W1c (acquire) and
/// before W6 (release); T2c's acquiring load of the 0 orders them before
/// the resizer's T3. A writer that backs out touched nothing.
///
/// Without the asymmetric fence the writer would need a full barrier between
/// W1a and W1c (Dekker's store-buffering pattern); with it, that barrier is
/// paid by the resizer, once per truncation or close.
///
/// ## Fallbacks (the shared count in the file's gate word)
///
/// A writer enters through the count instead of its slot when the kernel has
/// no private expedited membarrier (`isAsymmetric == false`), when the slot
/// table is full, or when its slot is busy (a write nested in another write
/// on the same thread, which only test hooks do). The resizer waits for both.
final class WriterSlots: @unchecked Sendable {
    // @unchecked: state is atomics in memory owned by this object, and a
    // pthread key created once.

    /// The table every `PagedFile` of the process shares.
    static let shared = WriterSlots()

    /// The most threads that can hold a slot at once; later ones use the
    /// fallback count.
    static let slotCapacity = 256
    /// Slots sit 128 bytes apart so that writers on different threads don't
    /// share a cache line (or an adjacent-line prefetch pair).
    static let strideWords = 16
    private static let insideWord = 0   // file id, or 0
    private static let claimedWord = 1  // 1 while a thread owns the slot

    /// Whether the kernel offers the private expedited membarrier and the
    /// process is registered for it. When false, no slot is ever handed out.
    let isAsymmetric: Bool
    private let words: UnsafeMutablePointer<Atomic<UInt>>
    /// One past the highest slot ever claimed: resizers scan below it.
    private let highWater = Atomic<Int>(0)
    private let nextFileID = Atomic<UInt>(1)
    /// Per thread, in a C thread-local word (one load on the fast path):
    /// 0 before its first write, slot + 1, or `noSlot`. The pthread key holds
    /// the same value so that its destructor gives the slot back when the
    /// thread exits.
    private let key: pthread_key_t
    private static let noSlot = Int.max

    private init() {
        words = .allocate(capacity: Self.slotCapacity * Self.strideWords)
        for i in 0 ..< Self.slotCapacity * Self.strideWords { (words + i).initialize(to: Atomic(0)) }
        var key = pthread_key_t()
        let created = pthread_key_create(&key) { value in
            // The thread exits: give its slot back. Its writes are over.
            let raw = Int(bitPattern: value)
            guard raw > 0, raw != WriterSlots.noSlot else { return }
            // A write from a later destructor of this thread takes the
            // fallback count: the slot may belong to another thread by then.
            cjournal_set_writer_slot(UInt(WriterSlots.noSlot))
            WriterSlots.shared.release(slot: raw - 1)
        }
        self.key = key
        // Registration must precede the first slot handed out: only writers
        // that entered through a slot rely on it.
        isAsymmetric = created == 0 && cjournal_membarrier_register_private_expedited() == 0
    }

    /// A fresh file id, never 0 and never reused.
    func newFileID() -> UInt {
        let (id, _) = nextFileID.wrappingAdd(1, ordering: .relaxed)
        precondition(id != 0, "file ids wrapped")
        return id
    }

    /// The calling thread's slot word, claiming one on first use; nil when
    /// the process has no asymmetric fence or every slot is taken.
    @inline(__always)
    func currentSlot() -> UnsafeMutablePointer<Atomic<UInt>>? {
        guard isAsymmetric else { return nil }
        let raw = Int(bitPattern: cjournal_writer_slot())
        if raw > 0 {
            return raw == Self.noSlot ? nil : words + (raw - 1) * Self.strideWords + Self.insideWord
        }
        return claim()
    }

    private func claim() -> UnsafeMutablePointer<Atomic<UInt>>? {
        for slot in 0 ..< Self.slotCapacity {
            let claimed = words + slot * Self.strideWords + Self.claimedWord
            guard claimed.pointee.load(ordering: .relaxed) == 0 else { continue }
            guard claimed.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged
            else { continue }
            let inside = words + slot * Self.strideWords + Self.insideWord
            assert(inside.pointee.load(ordering: .relaxed) == 0, "a free slot holds a file id")
            // Publish the high-water mark before this thread can announce in
            // the slot (a locked instruction: visible before any later store).
            var high = highWater.load(ordering: .relaxed)
            while high <= slot {
                let (exchanged, original) = highWater.compareExchange(
                    expected: high, desired: slot + 1, ordering: .sequentiallyConsistent)
                if exchanged { break }
                high = original
            }
            if pthread_setspecific(key, UnsafeRawPointer(bitPattern: slot + 1)) != 0 {
                release(slot: slot)
                cjournal_set_writer_slot(UInt(Self.noSlot))
                return nil
            }
            cjournal_set_writer_slot(UInt(slot + 1))
            return inside
        }
        // Table full: this thread uses the fallback count for good.
        cjournal_set_writer_slot(UInt(Self.noSlot))
        return nil
    }

    private func release(slot: Int) {
        assert(slot >= 0 && slot < Self.slotCapacity)
        let base = words + slot * Self.strideWords
        assert(base[Self.insideWord].load(ordering: .relaxed) == 0, "a thread exits inside a write")
        base[Self.claimedWord].store(0, ordering: .releasing)
    }

    // MARK: Writer side (W1a-W1c, W6)

    /// W1a and W1b: announces that this thread is inside file `id`. The
    /// caller loads the gate next (W1c) and backs out with `leave` if it is
    /// closed or resizing.
    @inline(__always)
    static func announce(_ slot: UnsafeMutablePointer<Atomic<UInt>>, file id: UInt) {
        assert(slot.pointee.load(ordering: .relaxed) == 0)
        slot.pointee.store(id, ordering: .relaxed)                          // W1a
        // W1b: keeps the store before the gate load in the instruction
        // stream. The CPU may still hold the store in its store buffer while
        // it loads the gate; the resizer's membarrier covers that (see the
        // argument at the top of this file). Not a fence: no cost at run time.
        cjournal_compiler_barrier()
    }

    /// W6 (or backing out of W1): this thread is no longer inside a file.
    /// Releases every access the writer made to the file.
    @inline(__always)
    static func leave(_ slot: UnsafeMutablePointer<Atomic<UInt>>) {
        slot.pointee.store(0, ordering: .releasing)
    }

    // MARK: Resizer side (T2b, T2c)

    /// T2b and T2c: after the caller set the resizing bit in the gate, waits
    /// until no thread is inside file `id` through its slot. A writer that
    /// announces afterwards sees the bit and backs out.
    func waitForWriters(of id: UInt) {
        guard isAsymmetric else { return }
        let result = cjournal_membarrier_private_expedited()                // T2b
        // Registered at init; the kernel does not take it back.
        precondition(result == 0, "membarrier failed after registration: errno \(errno)")
        let high = highWater.load(ordering: .acquiring)
        for slot in 0 ..< high {                                            // T2c
            let inside = words + slot * Self.strideWords + Self.insideWord
            var spins = 0
            while inside.pointee.load(ordering: .acquiring) == id {
                spins += 1
                if spins > 64 { sched_yield() }
            }
        }
    }
}
