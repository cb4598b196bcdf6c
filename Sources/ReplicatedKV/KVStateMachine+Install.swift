import CRaft
import JournalPrimitives
import JournalRaft
import KeyValueStore

// Installing a snapshot from the leader off the loop (`RaftSnapshotInstaller`):
// the store's close, the write of the pages and the reopen run on another
// thread while the loop goes on answering heartbeats and requests; readers
// of the store wait meanwhile (`KVStoreBox`). Raft's `restore`, on the loop
// afterwards, then finds the store already at the snapshot's index and
// does nothing. A snapshot in the older image format, or restored at start
// (before the node serves), is still restored on the loop.

/// What an install off the loop did, for the loop to take.
enum OffLoopInstallOutcome {
    /// The store now holds the pages, whose applied index this is.
    case installed(appliedIndex: UInt64)
    case failed(String)
}

extension KVStateMachine: RaftSnapshotInstaller {
    func installWork(index: UInt64, data: [UnsafeRawBufferPointer]) -> (() -> Int32)? {
        guard data.count == 1, case .pages(let header, let pages)? = KVSnapshotPayload.decode(data[0]),
              header.appliedIndex > appliedIndex else { return nil }
        let (box, lsn, outcome, hook) = (box, lastLSN, offLoopInstall, installHook)
        return {
            hook?()
            do throws(KeyValueError) {
                try box.store.waitUntilDurable(lsn)
                try box.install(pages, pageBytes: header.pageBytes)
                let applied = try box.store.get(Self.appliedKey).flatMap(Self.index) ?? 0
                outcome.withLock { $0 = .installed(appliedIndex: applied) }
                return 0
            } catch {
                outcome.withLock { $0 = .failed("the key-value store failed installing a snapshot: \(error)") }
                return RAFT_IOERR
            }
        }
    }

    func installFinished(index: UInt64, status: Int32) {
        let done = offLoopInstall.withLock { outcome in
            defer { outcome = nil }
            return outcome
        }
        switch done {
        case .installed(let applied)?: tookInstall(appliedIndex: applied)
        case .failed(let message)?: failure = .store(message)
        case nil: break
        }
    }
}
