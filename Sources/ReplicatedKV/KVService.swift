import NIOCore
import NIOHTTP1
import NIOPosix

/// A running node of the replicated key-value service: its stores, raft on
/// a one-thread event loop, the raft transport and the HTTP API
/// (KVAPI.swift).
public final class KVService: @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    let node: RaftNode
    let api: KVAPI
    let raftListener: any Channel
    let httpListener: any Channel

    private init(group: MultiThreadedEventLoopGroup, pool: NIOThreadPool, api: KVAPI, raftListener: any Channel, httpListener: any Channel) {
        self.group = group
        self.pool = pool
        node = api.node
        self.api = api
        self.raftListener = raftListener
        self.httpListener = httpListener
    }

    /// Opens the stores (creating and bootstrapping them on first start),
    /// starts raft and listens. `onFatal` runs on the loop when the node's
    /// journal or store fails and it must stop serving; `onRemoved`, once,
    /// when the node learns it was removed from the cluster (it refuses
    /// requests from then on: the caller stops it).
    public static func start(
        _ options: KVServiceOptions, onFatal: @escaping @Sendable (ReplicatedKVError) -> Void, onRemoved: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(ReplicatedKVError) -> KVService {
        let stores = try NodeStores.open(options)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let node: RaftNode
        do {
            node = try loop.submit { () throws -> RaftNode in
                let node = try RaftNode(loop: loop, options: options, stores: stores)
                node.onFatal = onFatal
                node.onRemoved = onRemoved
                return node
            }.wait()
        } catch {
            try? pool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            stores.close()
            throw (error as? ReplicatedKVError) ?? .raft("\(error)")
        }
        let api = KVAPI(node: node, pool: pool)
        var channels: [any Channel] = []
        do throws(ReplicatedKVError) {
            channels.append(try RaftTransport.listen(
                on: options.listen, loop: loop, clusterID: options.clusterID, reusePort: options.reusePort
            ) { bytes in node.receive(bytes) })
            channels.append(try listenHTTP(on: options.http, loop: loop, api: api, options: options))
        } catch {
            for channel in channels { try? channel.close().wait() }
            try? pool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            throw error
        }
        loop.execute {
            node.startTicking()
            node.startMembershipChecks(pool: pool)
        }
        return KVService(group: group, pool: pool, api: api, raftListener: channels[0], httpListener: channels[1])
    }

    /// The HTTP listener. A connection that receives nothing for the idle
    /// timeout while none of its requests waits for an answer is closed
    /// (`KVHTTPHandler.userInboundEventTriggered`).
    private static func listenHTTP(on address: HostPort, loop: any EventLoop, api: KVAPI, options: KVServiceOptions) throws(ReplicatedKVError) -> any Channel {
        let idle = options.idleTimeoutMilliseconds
        let bootstrap = ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .reusingPort(options.reusePort)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                    let handlers = channel.pipeline.syncOperations
                    if idle > 0 { try handlers.addHandler(IdleStateHandler(readTimeout: .milliseconds(idle)), position: .first) }
                    try handlers.addHandler(KVHTTPHandler(api: api))
                }
            }
        do { return try bootstrap.bind(host: address.host, port: address.port).wait() } catch {
            throw .bind(address: address.description, detail: "\(error)")
        }
    }

    /// Stops the node cleanly (what `kv serve` does on SIGTERM): the HTTP
    /// listener closes; requests waiting for the cluster get
    /// `graceMilliseconds` to finish, then 503; connections close once
    /// their reply is written; raft closes (the transport with it), then
    /// the key-value store and the raft log's journal. Blocks until done;
    /// call once, from outside the loop.
    public func stop(graceMilliseconds: Int64) {
        let loop = node.loop
        let stopped = loop.flatSubmit { [self] () -> EventLoopFuture<Void> in
            httpListener.close(promise: nil)
            return api.stop(graceMilliseconds: graceMilliseconds)
                .flatMap { [self] in
                    // Bounded: a reply still being read off the loop ends
                    // its connection when it is written.
                    Self.bounded(api.connections.closeAll(on: loop), milliseconds: graceMilliseconds, on: loop)
                }
                .flatMap { [self] in node.close() }
                .flatMap { [self] in raftListener.close().recover { _ in } }
        }
        try? stopped.wait()
        try? pool.syncShutdownGracefully()
        node.notifier?.stop()
        node.stores.close()
        try? group.syncShutdownGracefully()
    }
}

extension KVService {
    /// `future`, or success after `milliseconds` if it has not completed by
    /// then (on the loop).
    static func bounded(_ future: EventLoopFuture<Void>, milliseconds: Int64, on loop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        let timer = loop.assumeIsolated().scheduleTask(in: .milliseconds(milliseconds)) { promise.succeed() }
        future.assumeIsolated().whenComplete { _ in
            timer.cancel()
            promise.succeed()
        }
        return promise.futureResult
    }
}

extension NodeStores {
    func close() {
        kv.close()
        journal.close()
    }
}
