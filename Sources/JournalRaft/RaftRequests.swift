public import CRaft

// Raft's client requests (apply, barrier, configuration changes) with Swift
// completions: the request struct carries a retained box whose closure
// raft's callback runs, on the loop, once. The replicated service and the
// simulated cluster both propose through here.

final class RequestBox {
    let complete: (Int32, UInt64) -> Void
    init(_ complete: @escaping (Int32, UInt64) -> Void) { self.complete = complete }
}

public enum RaftRequests {
    /// Proposes `payload` as a command; `complete` gets raft's status and
    /// the entry's index once it is applied (or failed). Returns raft's
    /// error code when the proposal is refused at once (`complete` does
    /// not run then).
    public static func apply(_ r: UnsafeMutablePointer<raft>, _ payload: [UInt8], _ complete: @escaping (Int32, UInt64) -> Void) -> Int32 {
        guard let base = raft_malloc(max(payload.count, 1)) else { return RAFT_NOMEM }
        payload.withUnsafeBytes { if let p = $0.baseAddress { base.copyMemory(from: p, byteCount: $0.count) } }
        var buf = raft_buffer(base: base, len: payload.count)
        let rv = request(raft_apply(), complete, { $0.pointee.data = $1 }) { req in
            raft_apply(r, req, &buf, 1) { req, status, _ in RaftRequests.finish(req, status, req?.pointee.data, req?.pointee.index ?? 0) }
        }
        if rv != 0 {
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
    public static func change(
        _ call: (UnsafeMutablePointer<raft_change>, raft_change_cb) -> Int32, _ complete: @escaping (Int32) -> Void
    ) -> Int32 {
        request(raft_change(), { status, _ in complete(status) }, { $0.pointee.data = $1 }) { req in
            call(req) { req, status in RaftRequests.finish(req, status, req?.pointee.data, 0) }
        }
    }

    /// A barrier: `complete` runs once every entry before it is applied.
    /// Returns raft's error code when it is refused at once.
    public static func barrier(_ r: UnsafeMutablePointer<raft>, _ complete: @escaping (Int32, UInt64) -> Void) -> Int32 {
        request(raft_barrier(), complete, { $0.pointee.data = $1 }) { req in
            raft_barrier(r, req) { req, status in RaftRequests.finish(req, status, req?.pointee.data, req?.pointee.index ?? 0) }
        }
    }

    /// Allocates a request carrying `complete` and makes the call; undoes
    /// both when raft refuses at once.
    private static func request<Request>(
        _ empty: Request, _ complete: @escaping (Int32, UInt64) -> Void,
        _ setData: (UnsafeMutablePointer<Request>, UnsafeMutableRawPointer) -> Void, _ call: (UnsafeMutablePointer<Request>) -> Int32
    ) -> Int32 {
        let req = UnsafeMutablePointer<Request>.allocate(capacity: 1)
        req.initialize(to: empty)
        let box = Unmanaged.passRetained(RequestBox(complete))
        setData(req, box.toOpaque())
        let rv = call(req)
        if rv != 0 {
            box.release()
            req.deallocate()
        }
        return rv
    }

    /// In raft's callback, with the request's `data` and `index`: takes
    /// the box back, frees the request, completes.
    private static func finish<Request>(_ req: UnsafeMutablePointer<Request>?, _ status: Int32, _ data: UnsafeMutableRawPointer?, _ index: UInt64) {
        guard let req, let data else { return }
        let box = Unmanaged<RequestBox>.fromOpaque(data).takeRetainedValue()
        req.deallocate()
        box.complete(status, index)
    }
}
