import CRaft

// Memory handed to raft: allocated with raft's allocator, because raft frees
// it (received and loaded entries with their batch, snapshots, buffers,
// configurations).

enum RaftMemory {
    /// An array of entries whose payloads share one batch, as raft frees
    /// loaded and received entries; nil for none.
    static func entries(_ parsed: [(term: UInt64, type: UInt16, bytes: UnsafeRawBufferPointer)]) -> UnsafeMutablePointer<raft_entry>? {
        entries(count: parsed.count, totalBytes: parsed.reduce(0) { $0 + $1.bytes.count }) { i, destination in
            let p = parsed[i]
            if p.bytes.count > 0 { destination.copyMemory(from: p.bytes.baseAddress!, byteCount: p.bytes.count) }
            return (p.term, p.type, p.bytes.count)
        }
    }

    /// The same for entries the store loaded.
    static func entries(_ list: [RaftLogEntry]) -> UnsafeMutablePointer<raft_entry>? {
        entries(count: list.count, totalBytes: list.reduce(0) { $0 + $1.payload.count }) { i, destination in
            let e = list[i]
            e.payload.withUnsafeBytes { b in
                if b.count > 0 { destination.copyMemory(from: b.baseAddress!, byteCount: b.count) }
            }
            return (e.term, e.type, e.payload.count)
        }
    }

    /// Allocates the array and the batch; `fill` copies entry `i`'s payload
    /// to the given place and returns its term, type and length.
    private static func entries(
        count: Int, totalBytes: Int, fill: (Int, UnsafeMutableRawPointer) -> (UInt64, UInt16, Int)
    ) -> UnsafeMutablePointer<raft_entry>? {
        guard count > 0 else { return nil }
        guard let array = raft_calloc(count, MemoryLayout<raft_entry>.stride)?.bindMemory(to: raft_entry.self, capacity: count),
              let batch = raft_malloc(max(totalBytes, 1)) else {
            fatalError("raft_malloc failed: out of memory")
        }
        var offset = 0
        for i in 0..<count {
            let base = batch.advanced(by: offset)
            let (term, type, length) = fill(i, base)
            array[i] = raft_entry(term: term, type: type, buf: raft_buffer(base: base, len: length), batch: batch)
            offset += length
        }
        return array
    }

    /// The entries of `entries` (an array made by `entries(_:)`, `total`
    /// long) after the first `count`, in a new array and batch; the old ones
    /// are freed. Nil when none is left.
    static func dropFirst(_ count: Int, of entries: UnsafeMutablePointer<raft_entry>?, total: Int) -> UnsafeMutablePointer<raft_entry>? {
        guard let entries, count > 0 else { return entries }
        let kept = (min(count, total)..<total).map { i in
            (term: entries[i].term, type: entries[i].type, bytes: UnsafeRawBufferPointer(start: entries[i].buf.base, count: entries[i].buf.len))
        }
        let result = Self.entries(kept)
        destroyEntries(entries, count: total)
        return result
    }

    /// Frees entries made by `entries(_:)` (raft's `entryBatchesDestroy`).
    static func destroyEntries(_ entries: UnsafeMutablePointer<raft_entry>?, count: Int) {
        guard let entries else { return }
        var last: UnsafeMutableRawPointer?
        for i in 0..<count where entries[i].batch != last {
            last = entries[i].batch
            raft_free(last)
        }
        raft_free(entries)
    }

    /// A copy of `bytes` in a buffer raft may free.
    static func buffer(_ bytes: UnsafeRawBufferPointer) -> raft_buffer {
        guard let base = raft_malloc(max(bytes.count, 1)) else { fatalError("raft_malloc failed: out of memory") }
        if bytes.count > 0 { base.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        return raft_buffer(base: base, len: bytes.count)
    }

    /// A raft configuration holding `servers` (raft copies the addresses).
    static func configuration(_ servers: [RaftServer]) -> raft_configuration {
        var c = raft_configuration()
        raft_configuration_init(&c)
        for s in servers {
            let rv = raft_configuration_add(&c, s.id, s.address, s.role)
            assert(rv == 0, "a configuration decoded from a durable or received one is valid")
        }
        return c
    }

    /// The servers of a raft configuration.
    static func servers(_ c: raft_configuration) -> [RaftServer] {
        (0..<Int(c.n)).map { i in
            let s = c.servers[i]
            return RaftServer(id: s.id, address: s.address.map { String(cString: $0) } ?? "", role: s.role)
        }
    }

    /// Raft's encoding of a configuration (the payload of entry 1).
    static func encoded(_ c: UnsafePointer<raft_configuration>) -> [UInt8]? {
        var buf = raft_buffer()
        guard raft_configuration_encode(c, &buf) == 0, let base = buf.base else { return nil }
        defer { raft_free(base) }
        return Array(UnsafeRawBufferPointer(start: base, count: buf.len))
    }
}
