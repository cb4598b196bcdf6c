import CRaft

// Raft's client requests (apply, barrier) with Swift completions: the
// request struct carries a retained box whose closure raft's callback
// runs, on the loop, once.

final class RequestBox {
    let complete: (Int32, UInt64) -> Void
    init(_ complete: @escaping (Int32, UInt64) -> Void) { self.complete = complete }
}

enum RaftRequests {
    /// Proposes `payload` as a command; `complete` gets raft's status and
    /// the entry's index once it is applied (or failed). Returns raft's
    /// error code when the proposal is refused at once.
    static func apply(_ r: UnsafeMutablePointer<raft>, _ payload: [UInt8], _ complete: @escaping (Int32, UInt64) -> Void) -> Int32 {
        guard let base = raft_malloc(max(payload.count, 1)) else { return RAFT_NOMEM }
        payload.withUnsafeBytes { if let p = $0.baseAddress { base.copyMemory(from: p, byteCount: $0.count) } }
        var buf = raft_buffer(base: base, len: payload.count)
        let req = UnsafeMutablePointer<raft_apply>.allocate(capacity: 1)
        req.initialize(to: raft_apply())
        let box = Unmanaged.passRetained(RequestBox(complete))
        req.pointee.data = box.toOpaque()
        let rv = raft_apply(r, req, &buf, 1) { req, status, _ in
            guard let req else { return }
            let box = Unmanaged<RequestBox>.fromOpaque(req.pointee.data).takeRetainedValue()
            let index = req.pointee.index
            req.deallocate()
            box.complete(status, index)
        }
        if rv != 0 {
            box.release()
            req.deallocate()
            // A refused proposal leaves the buffer with the caller, on every
            // path of canonical raft 0.15's `raft_apply` (src/client.c) for
            // one buffer: a non-leader is refused before the log is touched;
            // a failed `logAppendCommands` fails before it stores the entry;
            // a failed `replicationTrigger` (no memory, or the I/O's append
            // refused) releases its own reference and the entry is removed
            // by `logDiscard`, which does not free payloads. The I/O's
            // `append` copies payloads before it returns, so nothing else
            // holds it either.
            raft_free(base)
        }
        return rv
    }

    /// A configuration change made by `call` (`raft_add`, `raft_assign` or
    /// `raft_remove` with the request and callback): `complete` gets raft's
    /// status once the new configuration is committed (or failed). Returns
    /// raft's error code when the change is refused at once.
    static func change(
        _ call: (UnsafeMutablePointer<raft_change>, raft_change_cb) -> Int32, _ complete: @escaping (Int32) -> Void
    ) -> Int32 {
        let req = UnsafeMutablePointer<raft_change>.allocate(capacity: 1)
        req.initialize(to: raft_change())
        let box = Unmanaged.passRetained(RequestBox { status, _ in complete(status) })
        req.pointee.data = box.toOpaque()
        let rv = call(req) { req, status in
            guard let req else { return }
            let box = Unmanaged<RequestBox>.fromOpaque(req.pointee.data).takeRetainedValue()
            req.deallocate()
            box.complete(status, 0)
        }
        if rv != 0 {
            box.release()
            req.deallocate()
        }
        return rv
    }

    /// A barrier: `complete` runs once every entry before it is applied.
    static func barrier(_ r: UnsafeMutablePointer<raft>, _ complete: @escaping (Int32, UInt64) -> Void) -> Int32 {
        let req = UnsafeMutablePointer<raft_barrier>.allocate(capacity: 1)
        req.initialize(to: raft_barrier())
        let box = Unmanaged.passRetained(RequestBox(complete))
        req.pointee.data = box.toOpaque()
        let rv = raft_barrier(r, req) { req, status in
            guard let req else { return }
            let box = Unmanaged<RequestBox>.fromOpaque(req.pointee.data).takeRetainedValue()
            let index = req.pointee.index
            req.deallocate()
            box.complete(status, index)
        }
        if rv != 0 {
            box.release()
            req.deallocate()
        }
        return rv
    }
}
