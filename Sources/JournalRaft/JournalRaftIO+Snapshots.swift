import CRaft
import Journal
import JournalPrimitives
import JournalStorage

// `snapshot_put` and `snapshot_get`. A snapshot's file is as big as the
// state machine, so it is written and read off the loop (`runOffLoop`);
// the log store's records, which say which snapshot is current, are
// appended on the loop once the file is durable (raft-log-format.md,
// section 3), and the journal is compacted behind the snapshot once they
// are durable too. A snapshot installed from the leader is then handed to
// the state machine's installer off the loop too (`snapshotInstaller`),
// before raft's callback restores it on the loop.

extension JournalRaftIO {
    func snapshotPut(
        _ trailing: UInt32, _ req: UnsafeMutablePointer<raft_io_snapshot_put>?, _ snapshot: UnsafePointer<raft_snapshot>?,
        _ cb: raft_io_snapshot_put_cb?
    ) -> Int32 {
        guard let req, let s = snapshot?.pointee else { return RAFT_INVALID }
        req.pointee.cb = cb
        // Raft keeps the snapshot's buffers until the callback (a snapshot
        // taken: until it finalizes it; one installed: until it restores
        // it), and does not touch them meanwhile: the file is written from
        // them, with no copy of the data first.
        let parts = (0..<Int(s.n_bufs)).map { UnsafeRawBufferPointer(start: s.bufs[$0].base, count: s.bufs[$0].len) }
        let image = RaftSnapshot(
            index: s.index, term: s.term, configuration: RaftMemory.servers(s.configuration),
            configurationIndex: s.configuration_index, data: [])
        if let failure { return fail(failure) }
        let storage = store.snapshotStorage
        let written = LockedValue<RaftLogError?>(nil)
        runOffLoop({
            do throws(RaftLogError) { try RaftSnapshotFile.write(image, data: parts, to: storage) } catch {
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
                recordSnapshot(image, parts: parts, trailing: UInt64(trailing), req, cb)
            }
        })
        return 0
    }

    /// Once the snapshot's file is durable: appends its records, and once
    /// they are durable compacts the journal behind it, installs a snapshot
    /// from the leader off the loop, and completes.
    private func recordSnapshot(
        _ image: RaftSnapshot, parts: [UnsafeRawBufferPointer], trailing: UInt64,
        _ req: UnsafeMutablePointer<raft_io_snapshot_put>, _ cb: raft_io_snapshot_put_cb?
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
                do throws(RaftLogError) { try store.compact(keeping: Set(snapshotFilesInUse.keys)) } catch { status = failWrite(error) }
            }
            guard status == 0, trailing == 0, let installer = snapshotInstaller,
                  let work = installer.installWork(index: image.index, data: parts) else {
                return finishPut(image, trailing: trailing, req, cb, status)
            }
            runOffLoop(work, then: { [unowned self] status in
                installer.installFinished(index: image.index, status: status)
                finishPut(image, trailing: trailing, req, cb, status)
            })
        }))
        durabilityRequested?(lsn)
    }

    /// Completes a snapshot put: raft's callback (which, for a snapshot from
    /// the leader, restores it), then what raft 0.15 leaves stale.
    private func finishPut(
        _ image: RaftSnapshot, trailing: UInt64, _ req: UnsafeMutablePointer<raft_io_snapshot_put>, _ cb: raft_io_snapshot_put_cb?,
        _ status: Int32
    ) {
        cb?(req, status)
        if status == 0 && trailing == 0 { clearStaleUncommittedConfiguration(installed: image.index) }
    }

    /// After raft has installed a snapshot from the leader (`snapshot_put`
    /// with no trailing entries, whose callback restores it): canonical
    /// raft 0.15 takes the snapshot's configuration but leaves
    /// `configuration_uncommitted_index` as it was. A follower that held an
    /// uncommitted configuration entry the snapshot covers then keeps
    /// pointing at an entry it no longer has and will never apply, and if
    /// it becomes leader every configuration change fails with
    /// `RAFT_CANTCHANGE` until it steps down. Later versions of raft reset
    /// it in the restore; this does the same, once the restore succeeded
    /// (raft's last applied index is then the snapshot's).
    func clearStaleUncommittedConfiguration(installed index: UInt64) {
        guard let raft, raft_last_applied(raft) == index else { return }
        let uncommitted = raft.pointee.configuration_uncommitted_index
        if uncommitted != 0 && uncommitted <= index { raft.pointee.configuration_uncommitted_index = 0 }
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
        // A newer snapshot may be stored and the journal compacted before
        // the read runs: the file stays until the read is done.
        let name = RaftSnapshotFile.name(index: index, term: term)
        snapshotFilesInUse[name, default: 0] += 1
        runOffLoop({
            do throws(RaftLogError) {
                let image = try RaftSnapshotFile.read(index: index, term: term, from: storage)
                read.withLock { $0 = .success(image) }
            } catch {
                read.withLock { $0 = .failure(error) }
            }
            return 0
        }, then: { [unowned self] status in
            releaseSnapshotFile(name)
            switch read.withLock({ $0 }) {
            case .success(let image)? where status == 0: cb?(req, Self.makeSnapshot(image), 0)
            case .failure(let error)? where status == 0: cb?(req, nil, fail(error))
            default: cb?(req, nil, status == 0 ? RAFT_CANCELED : status)
            }
        })
        return 0
    }

    /// Ends one read of snapshot file `name` (the next compaction may
    /// remove it).
    private func releaseSnapshotFile(_ name: String) {
        guard let count = snapshotFilesInUse[name] else { return }
        snapshotFilesInUse[name] = count > 1 ? count - 1 : nil
    }
}
