import JournalPrimitives
import CRaft
import KeyValueStore
import NIOCore
import NIOHTTP1
import NIOPosix

// The HTTP/JSON API's semantics, on the raft loop:
//
// - `PUT /kv/{key}` (body: the value) and `DELETE /kv/{key}` answer 200
//   `{"index": N}` once raft has committed the write (durable on a
//   majority) and this node applied it.
// - `GET /kv/{key}` answers 200 with the value's bytes, or 404: a
//   linearizable read, after a raft barrier through the leader.
//   `GET /kv/{key}?local` reads this node's applied state (not linearizable:
//   for checking a replica).
// - `GET /status`: the node's raft state (NodeStatus).
// - On a follower, key requests are redirected (307, `Location` on the
//   leader's HTTP address); with no known leader, or when the cluster does
//   not commit within the request timeout (a minority partition), 503 with
//   a JSON error. A write that timed out may still commit later.
// - Once the node stops (SIGTERM), new requests get 503; those waiting for
//   raft get a grace period to finish, then 503. These 503s say
//   `"reason": "stopping"` (HTTPReply.stopping): the node, not the
//   cluster, refused.
// - A node removed from the cluster answers every request but `/status`
//   503 with `"reason": "removed"` (NodeRemoval.swift).

final class KVAPI: @unchecked Sendable {
    let node: RaftNode
    let pool: NIOThreadPool
    let connections = HTTPConnections()
    private(set) var isStopping = false
    /// Requests waiting for raft, by their reply.
    private var inFlight: [ObjectIdentifier: Once] = [:]
    private var drained: EventLoopPromise<Void>?

    init(node: RaftNode, pool: NIOThreadPool) {
        self.node = node
        self.pool = pool
    }

    /// Answers one request through `respond` (once), on the loop.
    func handle(method: HTTPMethod, uri: String, body: [UInt8], respond: @escaping (HTTPReply) -> Void) {
        node.loop.preconditionInEventLoop()
        if isStopping { return respond(.stopping("the node is shutting down")) }
        let target = HTTPTarget(uri)
        if node.membership.isRemoved && target != .status { return respond(.removed()) }
        switch (method, target) {
        case (.GET, .status):
            var status = node.status
            status.requestsWaiting = inFlight.count
            respond(.json(.ok, status.json))
        case (.GET, .key(let key, local: true)):
            read(key, after: node.machine.lastLSN, respond)
        case (.GET, .key(let key, local: false)), (.PUT, .key(let key, _)), (.DELETE, .key(let key, _)):
            guard node.isLeader else { return respond(notLeader(uri)) }
            let once = awaitCluster(respond)
            if method == .GET {
                node.barrier { [self] status, _ in
                    guard status == 0 else { return once.reply(Self.raftFailure(status)) }
                    read(key, after: node.machine.lastLSN) { once.reply($0) }
                }
            } else {
                write(method == .PUT ? .put(key: key, value: body) : .delete(key: key), once)
            }
        case (_, .members), (_, .member):
            handleMembers(method: method, target: target, uri: uri, body: body, respond: respond)
        case (_, .unknown):
            respond(.error(.notFound, "no such resource: \(uri)"))
        default:
            respond(.error(.methodNotAllowed, "\(method) is not allowed on \(uri)"))
        }
    }

    /// A reply that waits for the cluster: counted in flight, and answered
    /// 503 if the cluster has not answered within the request timeout.
    func awaitCluster(_ respond: @escaping (HTTPReply) -> Void) -> Once {
        let once = track(respond)
        let timeout = node.options.requestTimeoutMilliseconds
        node.loop.assumeIsolated().scheduleTask(in: .milliseconds(timeout)) {
            once.reply(.error(.serviceUnavailable, "the cluster did not commit within \(timeout) ms (no quorum reachable?); a write may still commit"))
        }
        return once
    }

    /// A reply counted in flight until it is sent.
    private func track(_ respond: @escaping (HTTPReply) -> Void) -> Once {
        let once = Once(respond)
        let id = ObjectIdentifier(once)
        inFlight[id] = once
        once.onReply = { [weak self] in
            guard let self else { return }
            inFlight[id] = nil
            if inFlight.isEmpty, let drained {
                self.drained = nil
                drained.succeed()
            }
        }
        return once
    }

    /// Stops taking requests. Those waiting for raft get `graceMilliseconds`
    /// to finish, then 503; the future completes once none is left.
    func stop(graceMilliseconds: Int64) -> EventLoopFuture<Void> {
        node.loop.preconditionInEventLoop()
        isStopping = true
        if inFlight.isEmpty { return node.loop.makeSucceededVoidFuture() }
        let promise = node.loop.makePromise(of: Void.self)
        drained = promise
        node.loop.assumeIsolated().scheduleTask(in: .milliseconds(graceMilliseconds)) { [self] in
            for once in Array(inFlight.values) {
                once.reply(.stopping("the node is shutting down before the cluster answered; a write may still commit"))
            }
        }
        return promise.futureResult
    }

    private func write(_ command: KVCommand, _ once: Once) {
        // Not the store itself: an install may be replacing it off the loop.
        let kv = node.machine.box.limits
        let (key, valueBytes): ([UInt8], Int) = switch command {
        case .put(let k, let v): (k, v.count)
        case .delete(let k): (k, 0)
        }
        guard key.count + 1 <= kv.keyBytesMax, key.count + 1 + valueBytes <= kv.entryBytesMax else {
            return once.reply(.error(.payloadTooLarge, "key of \(key.count) bytes and value of \(valueBytes) bytes exceed the store's limits (key \(kv.keyBytesMax - 1), key plus value \(kv.entryBytesMax - 1))"))
        }
        node.propose(command) { status, index in
            guard status == 0 else { return once.reply(Self.raftFailure(status)) }
            once.reply(.json(.ok, JSON.object([("index", "\(index)")])))
        }
    }

    /// Reads `key` once the store's batch `lsn` is durable, off the loop.
    /// A snapshot installed meanwhile makes it wait and read the installed
    /// store (which holds at least what `lsn` does).
    private func read(_ key: [UInt8], after lsn: UInt64, _ respond: @escaping (HTTPReply) -> Void) {
        let box = node.machine.box
        let stored = KVStateMachine.userKey(key)
        pool.runIfActive(eventLoop: node.loop) { () throws -> [UInt8]? in
            try box.withStore { (kv) throws(KeyValueError) -> [UInt8]? in
                try kv.waitUntilDurable(lsn)
                return try kv.get(stored)
            }
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let value?): respond(.value(value))
            case .success(nil): respond(.error(.notFound, "no such key"))
            case .failure(let error): respond(.error(.internalServerError, "the key-value store failed: \(error)"))
            }
        }
    }

    func notLeader(_ uri: String) -> HTTPReply {
        guard let leader = node.leaderID, leader != node.options.id, let member = node.member(leader) else {
            return .error(.serviceUnavailable, "no leader is known (an election is under way, or this node cannot reach a majority)")
        }
        return .redirect(to: "http://\(member.http)\(uri)", leader: leader)
    }

    static func raftFailure(_ status: Int32) -> HTTPReply {
        let name = String(cString: raft_strerror(status))
        switch status {
        case RAFT_NOTLEADER: return .error(.serviceUnavailable, "this node is no longer the leader (\(name)); retry")
        case RAFT_LEADERSHIPLOST:
            return .error(.serviceUnavailable, "leadership was lost before the request committed (\(name)); a write may still commit")
        default: return .error(.serviceUnavailable, "raft failed the request: \(name) (\(status))")
        }
    }
}

/// A reply that is sent once: the first of the outcome and the timeout.
final class Once {
    private var respond: ((HTTPReply) -> Void)?
    /// Runs after the reply is handed on.
    var onReply: (() -> Void)?
    init(_ respond: @escaping (HTTPReply) -> Void) { self.respond = respond }
    func reply(_ reply: HTTPReply) {
        guard let respond else { return }
        self.respond = nil
        respond(reply)
        onReply?()
        onReply = nil
    }
}
