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
    let channels: [any Channel]

    private init(group: MultiThreadedEventLoopGroup, pool: NIOThreadPool, node: RaftNode, channels: [any Channel]) {
        self.group = group
        self.pool = pool
        self.node = node
        self.channels = channels
    }

    /// Opens the stores (creating and bootstrapping them on first start),
    /// starts raft and listens. `onFatal` runs on the loop when the node's
    /// journal or store fails and it must stop serving.
    public static func start(_ options: KVServiceOptions, onFatal: @escaping @Sendable (String) -> Void) throws(ReplicatedKVError) -> KVService {
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
                return node
            }.wait()
        } catch {
            try? pool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            stores.close()
            throw (error as? ReplicatedKVError) ?? .raft("\(error)")
        }
        var channels: [any Channel] = []
        do throws(ReplicatedKVError) {
            channels.append(try RaftTransport.listen(on: options.listen, loop: loop, clusterID: options.peers.clusterID) { bytes in
                node.receive(bytes)
            })
            channels.append(try listenHTTP(on: options.http, loop: loop, api: KVAPI(node: node, pool: pool)))
        } catch {
            for channel in channels { try? channel.close().wait() }
            try? pool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            throw error
        }
        loop.execute { node.startTicking() }
        return KVService(group: group, pool: pool, node: node, channels: channels)
    }

    private static func listenHTTP(on address: HostPort, loop: any EventLoop, api: KVAPI) throws(ReplicatedKVError) -> any Channel {
        let bootstrap = ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(KVHTTPHandler(api: api))
                }
            }
        do { return try bootstrap.bind(host: address.host, port: address.port).wait() } catch {
            throw .bind(address: address.description, detail: "\(error)")
        }
    }

    /// Blocks until the service's listeners close.
    public func waitUntilClosed() {
        for channel in channels { try? channel.closeFuture.wait() }
    }
}

extension NodeStores {
    func close() {
        kv.close()
        journal.close()
    }
}
