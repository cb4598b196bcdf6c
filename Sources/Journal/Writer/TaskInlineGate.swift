// When an async append may write its batch inline: only while the device
// has shown itself fast, so that a task blocks its pool thread for a short
// write and never, but for rare probes, for a slow one.

/// Decides whether a task that finds the journal idle may write inline
/// (`JournalOptions.inlineWritesFromTasksMicrosecondsMax`). Only inline
/// writes measure the device: their time is the write's alone, where a
/// queue write's also holds the I/O thread's wake-up and reaping, which on
/// a busy machine exceed a fast device's write many times over.
///
/// An inline write slower than the bound closes the gate for a cooldown of
/// queue writes, doubling with every slow write in a row up to
/// `cooldownWritesMax`, after which the next idle task write probes the
/// device again; a fast one resets the cooldown. On a slow disk a task
/// therefore blocks its thread for one write in `cooldownWritesMax` (after
/// the first few); on tmpfs or an NVMe device a write that was slow by
/// accident (the thread preempted) costs a short cooldown. The first write
/// of a journal is a probe. Journal lock held for every use.
struct TaskInlineGate {
    /// The longest cooldown, in queue writes.
    static let cooldownWritesMax = 1024

    /// Queue writes still to complete before the next probe.
    private(set) var writesUntilProbe = 0
    /// The cooldown after the next slow inline write.
    private(set) var nextCooldownWrites = 1

    /// A task may write inline.
    var isOpen: Bool { writesUntilProbe == 0 }

    /// A durable write completed in `nanos`: an inline one (by a task or a
    /// thread) measures the device, a queue write counts down the cooldown.
    mutating func noteWrite(nanos: UInt64, inline: Bool, fastNanosMax: UInt64) {
        guard inline else {
            writesUntilProbe = max(0, writesUntilProbe - 1)
            return
        }
        if nanos <= fastNanosMax {
            writesUntilProbe = 0
            nextCooldownWrites = 1
        } else {
            writesUntilProbe = nextCooldownWrites
            nextCooldownWrites = min(nextCooldownWrites * 2, Self.cooldownWritesMax)
        }
    }
}
