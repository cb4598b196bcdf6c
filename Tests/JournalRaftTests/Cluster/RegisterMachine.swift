import CRaft
import JournalPrimitives
import JournalRaft

/// The state machine of the cluster tests: single-key registers (key u8,
/// value u64 per command; an entry holds one command or a batch), plus the set of every value ever applied, so that
/// a check can ask whether an acknowledged write reached a node.
final class RegisterMachine {
    var values: [UInt8: UInt64] = [:]
    var applied: Set<UInt64> = []
    let fsm: UnsafeMutablePointer<raft_fsm>
    /// The state a snapshot being taken holds, captured at `snapshot`.
    var taking: [UInt8]?
    /// Snapshots whose async work ran.
    var asyncSnapshots = 0
    /// Entries applied that carried several commands.
    var batchEntries = 0

    init() {
        fsm = .allocate(capacity: 1)
        fsm.initialize(to: raft_fsm())
        fsm.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        fsm.pointee.apply = { fsm, buf, result in
            result?.pointee = nil
            guard let buf, let base = buf.pointee.base else { return RAFT_MALFORMED }
            return RegisterMachine.from(fsm).apply(UnsafeRawBufferPointer(start: base, count: buf.pointee.len))
        }
        // Version 3: the snapshot is taken as raft's async work, which the
        // raft I/O runs as a deferred callback (or where a test's runner
        // puts it); the state is captured at `snapshot`, on the loop.
        fsm.pointee.version = 3
        fsm.pointee.snapshot = { fsm, bufs, count in
            bufs?.pointee = nil
            count?.pointee = 0
            RegisterMachine.from(fsm).taking = RegisterMachine.from(fsm).encoded()
            return 0
        }
        fsm.pointee.snapshot_async = { fsm, bufs, count in
            let machine = RegisterMachine.from(fsm)
            guard let bytes = machine.taking else { return RAFT_INVALID }
            machine.asyncSnapshots += 1
            guard let array = raft_calloc(1, MemoryLayout<raft_buffer>.stride)?.bindMemory(to: raft_buffer.self, capacity: 1),
                  let base = raft_malloc(max(bytes.count, 1)) else { return RAFT_NOMEM }
            bytes.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            array.pointee = raft_buffer(base: base, len: bytes.count)
            bufs?.pointee = array
            count?.pointee = 1
            return 0
        }
        fsm.pointee.snapshot_finalize = { fsm, bufs, count in
            if let array = bufs?.pointee {
                for i in 0..<Int(count?.pointee ?? 0) { raft_free(array[i].base) }
                raft_free(array)
            }
            bufs?.pointee = nil
            count?.pointee = 0
            RegisterMachine.from(fsm).taking = nil
            return 0
        }
        fsm.pointee.restore = { fsm, buf in
            guard let buf else { return RAFT_MALFORMED }
            defer { raft_free(buf.pointee.base) }
            let bytes = buf.pointee.base.map { Array(UnsafeRawBufferPointer(start: $0, count: buf.pointee.len)) } ?? []
            return RegisterMachine.from(fsm).restore(bytes) ? 0 : RAFT_MALFORMED
        }
    }

    deinit {
        fsm.deinitialize(count: 1)
        fsm.deallocate()
    }

    static func from(_ fsm: UnsafeMutablePointer<raft_fsm>?) -> RegisterMachine {
        guard let data = fsm?.pointee.data else { preconditionFailure("an FSM without its machine") }
        return Unmanaged<RegisterMachine>.fromOpaque(data).takeUnretainedValue()
    }

    func set(key: UInt8, value: UInt64) {
        values[key] = value
        applied.insert(value)
    }

    /// Applies an entry: one command, or a batch of them in order (the
    /// service's batch encoding, `RaftCommandBatch`). Anything else is
    /// refused, which the checks see as a node that stopped applying.
    func apply(_ payload: UnsafeRawBufferPointer) -> Int32 {
        guard let commands = try? RaftCommandBatch.commands(in: payload),
              commands.allSatisfy({ $0.count == 10 && $0.u8(0) == Self.setKind }) else { return RAFT_MALFORMED }
        for command in commands { set(key: command.u8(1), value: command.le64(2)) }
        if commands.count > 1 { batchEntries += 1 }
        return 0
    }

    /// The kind byte of a register write (3 is a batch's).
    static let setKind: UInt8 = 1

    /// A register write: kind 1, key u8, value u64.
    static func command(key: UInt8, value: UInt64) -> [UInt8] {
        var out: [UInt8] = [setKind, key]
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
        return out
    }

    /// Sorted key/value pairs, then the sorted applied set.
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func put(_ v: UInt64) { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        put(UInt64(values.count))
        for (k, v) in values.sorted(by: { $0.key < $1.key }) {
            out.append(k)
            put(v)
        }
        put(UInt64(applied.count))
        for v in applied.sorted() { put(v) }
        return out
    }

    func restore(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { b -> Bool in
            var offset = 0
            func take() -> UInt64? {
                guard offset + 8 <= b.count else { return nil }
                defer { offset += 8 }
                return b.le64(offset)
            }
            guard let n = take() else { return false }
            var values: [UInt8: UInt64] = [:]
            for _ in 0..<n {
                guard offset < b.count else { return false }
                let k = b.u8(offset)
                offset += 1
                guard let v = take() else { return false }
                values[k] = v
            }
            guard let m = take() else { return false }
            var applied: Set<UInt64> = []
            for _ in 0..<m {
                guard let v = take() else { return false }
                applied.insert(v)
            }
            self.values = values
            self.applied = applied
            return offset == b.count
        }
    }
}
