import CRaft
import Journal

// The method table of `struct raft_io`: C entry points that find the Swift
// object through `impl` and call it. Requests that complete later keep the
// callback raft gave (in the request's `cb`, as raft expects) and fire it
// from `runCompletions()`.

extension JournalRaftIO {
    static func installMethods(_ io: UnsafeMutablePointer<raft_io>) {
        io.pointee.`init` = { io, id, address in
            let me = JournalRaftIO.from(io)
            if let identity = me.store.identity, identity.serverID != id {
                return me.fail(.wrongServer(recorded: identity.serverID, given: id))
            }
            me.serverID = id
            me.serverAddress = address.map { String(cString: $0) } ?? ""
            return 0
        }
        io.pointee.close = { io, cb in JournalRaftIO.from(io).close(cb) }
        io.pointee.load = { io, term, vote, snapshot, start, entries, count in
            JournalRaftIO.from(io).load(term, vote, snapshot, start, entries, count)
        }
        io.pointee.start = { io, msecs, tick, recv in
            let me = JournalRaftIO.from(io)
            me.tickIntervalMilliseconds = UInt64(msecs)
            me.lastTickMilliseconds = me.environment.nowMilliseconds
            me.tickCallback = tick
            me.receiveCallback = recv
            return 0
        }
        io.pointee.bootstrap = { io, conf in
            let me = JournalRaftIO.from(io)
            guard let conf, let encoded = RaftMemory.encoded(conf) else { return RAFT_NOMEM }
            do throws(RaftLogError) { try me.store.bootstrap(configuration: encoded) } catch { return me.fail(error) }
            return 0
        }
        io.pointee.recover = { io, conf in
            let me = JournalRaftIO.from(io)
            guard let conf, let encoded = RaftMemory.encoded(conf) else { return RAFT_NOMEM }
            do throws(RaftLogError) { try me.store.recover(configuration: encoded) } catch { return me.failWrite(error) }
            return 0
        }
        io.pointee.set_term = { io, term in
            let me = JournalRaftIO.from(io)
            do throws(RaftLogError) { try me.store.setTerm(term) } catch { return me.failWrite(error) }
            return 0
        }
        io.pointee.set_vote = { io, id in
            let me = JournalRaftIO.from(io)
            do throws(RaftLogError) { try me.store.setVote(id) } catch { return me.failWrite(error) }
            return 0
        }
        io.pointee.send = { io, req, message, cb in JournalRaftIO.from(io).send(req, message, cb) }
        io.pointee.append = { io, req, entries, n, cb in JournalRaftIO.from(io).append(req, entries, n, cb) }
        io.pointee.truncate = { io, index in
            let me = JournalRaftIO.from(io)
            do throws(RaftLogError) { try me.store.truncate(from: index) } catch { return me.failWrite(error) }
            return 0
        }
        io.pointee.snapshot_put = { io, trailing, req, snapshot, cb in JournalRaftIO.from(io).snapshotPut(trailing, req, snapshot, cb) }
        io.pointee.snapshot_get = { io, req, cb in JournalRaftIO.from(io).snapshotGet(req, cb) }
        io.pointee.time = { io in JournalRaftIO.from(io).environment.nowMilliseconds }
        io.pointee.random = { io, min, max in JournalRaftIO.from(io).environment.random(min: min, max: max) }
        io.pointee.async_work = { io, req, cb in JournalRaftIO.from(io).asyncWork(req, cb) }
    }

    func close(_ cb: raft_io_close_cb?) {
        isClosed = true
        failWaits(RAFT_CANCELED)
        while !deferred.isEmpty {
            let callbacks = deferred
            deferred.removeAll()
            for callback in callbacks { callback() }
        }
        cancelOffLoopJobs()
        cb?(io)
    }

    func load(
        _ term: UnsafeMutablePointer<raft_term>?, _ vote: UnsafeMutablePointer<raft_id>?,
        _ snapshot: UnsafeMutablePointer<UnsafeMutablePointer<raft_snapshot>?>?,
        _ start: UnsafeMutablePointer<raft_index>?,
        _ entries: UnsafeMutablePointer<UnsafeMutablePointer<raft_entry>?>?, _ count: UnsafeMutablePointer<Int>?
    ) -> Int32 {
        let loaded: RaftLoadedLog
        do throws(RaftLogError) { loaded = try store.load() } catch { return fail(error) }
        term?.pointee = loaded.term
        vote?.pointee = loaded.votedFor
        snapshot?.pointee = loaded.snapshot.map(Self.makeSnapshot)
        start?.pointee = loaded.startIndex
        entries?.pointee = RaftMemory.entries(loaded.entries)
        count?.pointee = loaded.entries.count
        return 0
    }

    func send(
        _ req: UnsafeMutablePointer<raft_io_send>?, _ message: UnsafePointer<raft_message>?, _ cb: raft_io_send_cb?
    ) -> Int32 {
        guard let req, let message else { return RAFT_INVALID }
        req.pointee.cb = cb
        var copy = message.pointee
        // Canonical raft 0.15 answers an AppendEntries it accepts with its
        // last stored index, which may lie beyond what the leader sent: a
        // follower holding 23 and 24 of an old term, sent a heartbeat after
        // 22, answers 24, and the leader counts it as holding its own,
        // different, entry 23 and commits it without a majority (an
        // acknowledged write then lost). The match the answer may claim is
        // what the request proved: its prevLogIndex + its entries.
        if copy.type == UInt16(RAFT_IO_APPEND_ENTRIES_RESULT), copy.append_entries_result.rejected == 0,
           let match = answeringMatch, copy.append_entries_result.last_log_index > match {
            copy.append_entries_result.last_log_index = match
        }
        let bytes = withUnsafePointer(to: &copy) { RaftMessageCodec.encode($0, senderID: serverID, senderAddress: serverAddress) }
        environment.send(from: serverID, to: message.pointee.server_id, bytes: bytes)
        deferred.append { cb?(req, 0) }
        return 0
    }

    func append(
        _ req: UnsafeMutablePointer<raft_io_append>?, _ entries: UnsafePointer<raft_entry>?, _ n: UInt32,
        _ cb: raft_io_append_cb?
    ) -> Int32 {
        guard let req else { return RAFT_INVALID }
        req.pointee.cb = cb
        var copies: [RaftLogEntry] = []
        for i in 0..<Int(n) {
            guard let e = entries?[i] else { return RAFT_INVALID }
            let payload = e.buf.base.map { Array(UnsafeRawBufferPointer(start: $0, count: e.buf.len)) } ?? []
            copies.append(RaftLogEntry(term: e.term, type: e.type, payload: payload))
        }
        if let failure { return fail(failure) }
        let lsn: LSN
        do throws(RaftLogError) { lsn = try store.append(copies) } catch {
            // Entries the store may have kept that raft will not count, or a
            // full disk: stop the node.
            return failWrite(error)
        }
        durableWaits.append((lsn, answeringMatch, { status in cb?(req, status) }))
        durabilityRequested?(lsn)
        return 0
    }

    /// A snapshot in raft's allocator: raft frees the struct, takes the
    /// configuration and gives the single buffer to the state machine.
    static func makeSnapshot(_ image: RaftSnapshot) -> UnsafeMutablePointer<raft_snapshot> {
        guard let raw = raft_calloc(1, MemoryLayout<raft_snapshot>.stride),
              let bufs = raft_calloc(1, MemoryLayout<raft_buffer>.stride) else {
            fatalError("raft_calloc failed: out of memory")
        }
        let s = raw.bindMemory(to: raft_snapshot.self, capacity: 1)
        let b = bufs.bindMemory(to: raft_buffer.self, capacity: 1)
        b.pointee = image.data.withUnsafeBytes { RaftMemory.buffer($0) }
        s.pointee.index = image.index
        s.pointee.term = image.term
        s.pointee.configuration = RaftMemory.configuration(image.configuration)
        s.pointee.configuration_index = image.configurationIndex
        s.pointee.bufs = b
        s.pointee.n_bufs = 1
        return s
    }
}
