import CRaft
import Foundation
import KeyValueStore
import PageStore
@testable import ReplicatedKV
import TestSupport
import Testing

/// A node's key-value store in a fresh directory, holding `keys` user keys
/// (values from `tag`) and `index` as its applied raft index.
func machineStore(_ directory: TemporaryDirectory, keys: Int, tag: UInt8, index: UInt64) throws -> KVStoreBox {
    let location = try PageStoreLocation.directory(path: directory.path + "/kv", create: true)
    try KeyValueStore.create(location: location)
    let kv = try KeyValueStore.open(location: location)
    for start in stride(from: 0, to: keys, by: 100) {
        let batch = (start..<min(keys, start + 100)).map { i in
            KeyValueOperation.put(key: KVStateMachine.userKey(Array("key-\(i)".utf8)), value: [UInt8](repeating: tag, count: 40 + i % 50))
        }
        try kv.write(batch)
    }
    try kv.put(KVStateMachine.appliedKey, KVStateMachine.indexBytes(index))
    return KVStoreBox(store: kv, location: location, options: PageStoreOptions())
}

/// The user keys of `kv` and their values.
func userPairs(_ kv: KeyValueStore) throws -> [[UInt8]: [UInt8]] {
    var out: [[UInt8]: [UInt8]] = [:]
    try kv.scan(from: [KVStateMachine.userPrefix]) { k, v in
        guard k.first == KVStateMachine.userPrefix else { return false }
        out[Array(k.dropFirst())] = v
        return true
    }
    return out
}

@Suite("Replicated key-value service: snapshots of the store's pages")
struct SnapshotPagesTests {
    @Test("the payload round-trips; a damaged one, or a truncated one, does not decode; the older image still does")
    func payload() throws {
        let pages = KeyValuePages(lsn: 77, pageBytes: 4096, bytes: (0..<(3 * 4096)).map { UInt8(truncatingIfNeeded: $0 * 7) })
        var bytes = [UInt8](repeating: 0, count: KVSnapshotPayload.byteCount(pages))
        bytes.withUnsafeMutableBytes { KVSnapshotPayload.encode(appliedIndex: 12, pages: pages, into: $0) }
        guard case .pages(let header, let body)? = bytes.withUnsafeBytes({ KVSnapshotPayload.decode($0) }) else {
            Issue.record("the payload does not decode")
            return
        }
        #expect(header == KVSnapshotPayload.Header(appliedIndex: 12, pageBytes: 4096, pageCount: 3, lsn: 77))
        #expect(body.count == pages.bytes.count)
        for offset in [0, 13, 44, 48, 48 + 5000, bytes.count - 1] {
            var damaged = bytes
            damaged[offset] ^= 0x10
            #expect(damaged.withUnsafeBytes { KVSnapshotPayload.decode($0) } == nil, "a flipped bit at \(offset)")
        }
        #expect(bytes.dropLast(4096).withUnsafeBytes { KVSnapshotPayload.decode($0) } == nil)
        let image = KVImage(appliedIndex: 5, pairs: [([1], [2])]).encoded
        guard case .image(let decoded)? = image.withUnsafeBytes({ KVSnapshotPayload.decode($0) }) else {
            Issue.record("an image no longer decodes")
            return
        }
        #expect(decoded.appliedIndex == 5)
    }

    @Test("taking a snapshot: the step on the loop reads nothing; the step off it checkpoints and reads the pages, which install on another node's store")
    func takeAndInstall() throws {
        let leaderDirectory = TemporaryDirectory(on: .tmp, "kv-snap-leader")
        let leader = try KVStateMachine(box: machineStore(leaderDirectory, keys: 3_000, tag: 1, index: 500))
        defer { leader.kv.close() }
        let checkpoints = leader.kv.statistics.pageStore.checkpointCount
        var bufs: UnsafeMutablePointer<raft_buffer>?
        var count: UInt32 = 0
        // On the loop: nothing but a note.
        #expect(leader.fsm.pointee.snapshot?(leader.fsm, &bufs, &count) == 0)
        #expect(bufs == nil && count == 0)
        #expect(leader.kv.statistics.pageStore.checkpointCount == checkpoints)
        // Off the loop: the checkpoint and the pages.
        #expect(leader.fsm.pointee.snapshot_async?(leader.fsm, &bufs, &count) == 0)
        #expect(leader.kv.statistics.pageStore.checkpointCount == checkpoints + 1)
        let buffer = try #require(bufs?.pointee)
        #expect(count == 1)
        let payload = Array(UnsafeRawBufferPointer(start: buffer.base, count: buffer.len))
        #expect(leader.fsm.pointee.snapshot_finalize?(leader.fsm, &bufs, &count) == 0)
        #expect(bufs == nil && leader.snapshotsTaken == 1 && leader.failure == nil)
        guard case .pages(let header, _)? = payload.withUnsafeBytes({ KVSnapshotPayload.decode($0) }) else {
            Issue.record("the payload does not decode")
            return
        }
        #expect(header.appliedIndex == 500 && header.pageCount > 20)

        let followerDirectory = TemporaryDirectory(on: .tmp, "kv-snap-follower")
        let follower = try KVStateMachine(box: machineStore(followerDirectory, keys: 200, tag: 2, index: 40))
        defer { follower.kv.close() }
        #expect(payload.withUnsafeBytes { follower.restore($0) } == 0)
        #expect(follower.appliedIndex == 500 && follower.snapshotsRestored == 1 && follower.failure == nil)
        let expected = try userPairs(leader.kv)
        #expect(expected.count == 3_000)
        #expect(try userPairs(follower.kv) == expected)
        // Restored again (raft does at every start): nothing changes.
        #expect(payload.withUnsafeBytes { follower.restore($0) } == 0)
        #expect(follower.snapshotsRestored == 1)
        // A restart after the install reads the installed state.
        follower.kv.close()
        let reopened = try KVStateMachine(box: KVStoreBox(
            store: KeyValueStore.open(location: follower.box.location), location: follower.box.location, options: PageStoreOptions()))
        defer { reopened.kv.close() }
        #expect(reopened.appliedIndex == 500)
        #expect(try userPairs(reopened.kv) == expected)
    }

    @Test("a read in flight when an install closes the store reads the installed store instead of failing")
    func readDuringInstall() throws {
        let leaderDirectory = TemporaryDirectory(on: .tmp, "kv-snap-leader")
        let leader = try KVStateMachine(box: machineStore(leaderDirectory, keys: 300, tag: 1, index: 90))
        defer { leader.kv.close() }
        var bufs: UnsafeMutablePointer<raft_buffer>?
        var count: UInt32 = 0
        #expect(leader.fsm.pointee.snapshot?(leader.fsm, &bufs, &count) == 0)
        #expect(leader.fsm.pointee.snapshot_async?(leader.fsm, &bufs, &count) == 0)
        let buffer = try #require(bufs?.pointee)
        let payload = Array(UnsafeRawBufferPointer(start: buffer.base, count: buffer.len))
        #expect(leader.fsm.pointee.snapshot_finalize?(leader.fsm, &bufs, &count) == 0)

        let followerDirectory = TemporaryDirectory(on: .tmp, "kv-snap-follower")
        let follower = try KVStateMachine(box: machineStore(followerDirectory, keys: 20, tag: 2, index: 10))
        defer { follower.kv.close() }
        let key = KVStateMachine.userKey(Array("key-7".utf8))
        // The read takes the store open now, then waits until the install
        // has closed it before reading.
        let started = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let result = LockedBox<Result<[UInt8]?, KeyValueError>?>(nil)
        let box = follower.box
        let reader = Thread {
            var first = true
            let read = Result { () throws(KeyValueError) -> [UInt8]? in
                try box.withStore { (kv) throws(KeyValueError) -> [UInt8]? in
                    if first {
                        first = false
                        started.signal()
                        go.wait()
                    }
                    return try kv.get(key)
                }
            }
            result.set(read)
            started.signal()
        }
        reader.start()
        started.wait()
        #expect(payload.withUnsafeBytes { follower.restore($0) } == 0)
        #expect(follower.snapshotsRestored == 1)
        go.signal()
        started.wait()
        let read = try #require(result.get())
        #expect(try read.get() == [UInt8](repeating: 1, count: 40 + 7 % 50), "the value the installed pages hold")
    }
}

/// A value one thread sets and another reads.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    func get() -> Value { lock.withLock { value } }
}
