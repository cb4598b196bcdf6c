/// Installs a snapshot received from the leader into the state machine off
/// the raft loop.
///
/// Canonical raft 0.15 restores a snapshot it received (`fsm->restore`)
/// inside the callback of `snapshot_put`, on the loop; for a state machine
/// as big as a store, replacing its state there would hold the loop for as
/// long as the disk takes: no heartbeat answered, no request served, an
/// election lost. The I/O therefore lets the state machine do the
/// expensive part before it fires that callback: `installWork` (on the
/// loop) returns the work, the I/O runs it elsewhere, `installFinished`
/// (on the loop again) takes its outcome, and raft's restore then finds
/// the state already in place. While the work runs raft applies nothing
/// (entries after the snapshot are refused until it is restored) and takes
/// no snapshot of its own.
public protocol RaftSnapshotInstaller: AnyObject {
    /// On the loop, once the snapshot at `index` is durable in the log
    /// store: the work that installs `data` (raft's buffers, which stay
    /// valid and untouched until the callback), run once off the loop and
    /// returning 0 or raft's error code; nil to leave it all to `restore`.
    func installWork(index: UInt64, data: [UnsafeRawBufferPointer]) -> (() -> Int32)?

    /// On the loop, once the work has run (`status` is its result, or
    /// `RAFT_CANCELED` when raft closed meanwhile: the work has run then
    /// too), before raft's callback.
    func installFinished(index: UInt64, status: Int32)
}
