import CRaft
import Journal
import JournalPrimitives
import JournalStorage

// `snapshot_put` and `snapshot_get`. A snapshot's file is as big as the
// state machine, so it is written and read off the loop (`runOffLoop`);
// the log store's records, which say which snapshot is current, are
// appended on the loop once the file is durable (raft-log-format.md,
// section 3), and the journal is compacted behind the snapshot once they
// are durable too.

extension JournalRaftIO {
    func snapshotPut(
        _ trailing: UInt32, _ req: UnsafeMutablePointer<raft_io_snapshot_put>?, _ snapshot: UnsafePointer<raft_snapshot>?,
        _ cb: raft_io_snapshot_put_cb?
    ) -> Int32 {
        guard let req, let s = snapshot?.pointee else { return RAFT_INVALID }
        req.pointee.cb = cb
        var data: [UInt8] = []
        for i in 0..<Int(s.n_bufs) {
            let b = s.bufs[i]
            if let base = b.base { data.append(contentsOf: UnsafeRawBufferPointer(start: base, count: b.len)) }
        }
        let image = RaftSnapshot(
            index: s.index, term: s.term, configuration: RaftMemory.servers(s.configuration),
            configurationIndex: s.configuration_index, data: data)
        if let failure { return fail(failure) }
        let storage = store.snapshotStorage
        let written = LockedValue<RaftLogError?>(nil)
        runOffLoop({
            do throws(RaftLogError) { try RaftSnapshotFile.write(image, to: storage) } catch {
                written.withLock { $0 = error }
                return RAFT_IOERR
            }
            return 0
        }, then: { [unowned self] status in
            if let error = written.withLock({ $0 }) {
                cb?(req, failWrite(error))
            } else if status != 0 {
                cb?(req, status)
            } else {
                recordSnapshot(image, trailing: UInt64(trailing), req, cb)
            }
        })
        return 0
    }

    /// Once the snapshot's file is durable: appends its records, and once
    /// they are durable compacts the journal behind it and completes.
    private func recordSnapshot(
        _ image: RaftSnapshot, trailing: UInt64, _ req: UnsafeMutablePointer<raft_io_snapshot_put>, _ cb: raft_io_snapshot_put_cb?
    ) {
        if let failure {
            cb?(req, fail(failure))
            return
        }
        let lsn: LSN
        do throws(RaftLogError) { lsn = try store.recordSnapshot(image, trailing: trailing) } catch {
            cb?(req, failWrite(error))
            return
        }
        durableWaits.append((lsn, nil, { [unowned self] status in
            var status = status
            if status == 0 {
                do throws(RaftLogError) { try store.compact() } catch { status = failWrite(error) }
            }
            cb?(req, status)
        }))
        durabilityRequested?(lsn)
    }

    func snapshotGet(_ req: UnsafeMutablePointer<raft_io_snapshot_get>?, _ cb: raft_io_snapshot_get_cb?) -> Int32 {
        guard let req else { return RAFT_INVALID }
        req.pointee.cb = cb
        let (index, term) = (store.snapshotIndex, store.snapshotTerm)
        guard index > 0 else {
            deferred.append { cb?(req, nil, RAFT_NOTFOUND) }
            return 0
        }
        let storage = store.snapshotStorage
        let read = LockedValue<Result<RaftSnapshot, RaftLogError>?>(nil)
        runOffLoop({
            do throws(RaftLogError) {
                let image = try RaftSnapshotFile.read(index: index, term: term, from: storage)
                read.withLock { $0 = .success(image) }
            } catch {
                read.withLock { $0 = .failure(error) }
            }
            return 0
        }, then: { [unowned self] status in
            switch read.withLock({ $0 }) {
            case .success(let image)? where status == 0: cb?(req, Self.makeSnapshot(image), 0)
            case .failure(let error)? where status == 0: cb?(req, nil, fail(error))
            default: cb?(req, nil, status == 0 ? RAFT_CANCELED : status)
            }
        })
        return 0
    }
}
