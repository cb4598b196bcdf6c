import NIOCore
import NIOPosix

// Raft messages between nodes over TCP. Everything here runs on the node's
// event loop (the raft loop), so it needs no lock. Each node dials every
// peer it sends to (one connection per direction) and finds peers by id,
// through `resolve` (raft's configuration, then the peers list); a message
// to an id it cannot resolve is dropped. While a connection is
// being made, messages queue (a bounded number: raft resends what is lost);
// a failed or closed connection is retried after a backoff that doubles
// from 25 ms to 1 s and resets once a connection succeeds.

final class RaftTransport: @unchecked Sendable {
    enum LinkState {
        case idle
        case connecting
        case connected(any Channel)
        case backingOff
    }

    final class Link {
        let address: HostPort
        var state = LinkState.idle
        var queued: [[UInt8]] = []
        var backoffMilliseconds: Int64 = 0
        /// Whether a flush of the connection is scheduled for the end of
        /// this loop turn (messages sent in one turn share one write).
        var flushScheduled = false
        init(address: HostPort) { self.address = address }
    }

    static let queuedMax = 256
    let loop: any EventLoop
    let hello: [UInt8]
    let selfID: UInt64
    var links: [UInt64: Link] = [:]
    var isStopped = false
    /// The raft address of a server, by id.
    var resolve: (UInt64) -> HostPort? = { _ in nil }

    init(loop: any EventLoop, clusterID: UInt64, selfID: UInt64) {
        self.loop = loop
        self.selfID = selfID
        hello = RaftFrame.hello(clusterID: clusterID, senderID: selfID)
    }

    /// The link to server `id`, made on first use.
    private func link(_ id: UInt64) -> Link? {
        if let link = links[id] { return link }
        guard id != selfID, let address = resolve(id) else { return nil }
        let link = Link(address: address)
        links[id] = link
        return link
    }

    /// Sends `bytes` to server `to` (on the loop).
    func send(to: UInt64, bytes: [UInt8]) {
        loop.preconditionInEventLoop()
        guard !isStopped, let link = link(to) else { return }
        switch link.state {
        case .connected(let channel):
            var buffer = channel.allocator.buffer(capacity: bytes.count + 8)
            RaftFrame.write(bytes, into: &buffer)
            channel.write(buffer, promise: nil)
            if !link.flushScheduled {
                link.flushScheduled = true
                loop.assumeIsolated().execute {
                    link.flushScheduled = false
                    channel.flush()
                }
            }
        case .idle:
            link.queued.append(bytes)
            connect(to, link)
        case .connecting:
            if link.queued.count >= Self.queuedMax { link.queued.removeFirst() }
            link.queued.append(bytes)
        case .backingOff:
            break
        }
    }

    private func connect(_ id: UInt64, _ link: Link) {
        link.state = .connecting
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(1000))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.closeFuture.whenComplete { [weak self] _ in self?.closed(id, channel) }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        bootstrap.connect(host: link.address.host, port: link.address.port).assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let channel): self.connected(id, link, channel)
            case .failure: self.backOff(id, link)
            }
        }
    }

    private func connected(_ id: UInt64, _ link: Link, _ channel: any Channel) {
        if isStopped {
            channel.close(promise: nil)
            return
        }
        link.state = .connected(channel)
        link.backoffMilliseconds = 0
        var buffer = channel.allocator.buffer(capacity: 64)
        RaftFrame.write(hello, into: &buffer)
        for message in link.queued { RaftFrame.write(message, into: &buffer) }
        link.queued.removeAll()
        channel.writeAndFlush(buffer, promise: nil)
    }

    private func closed(_ id: UInt64, _ channel: any Channel) {
        guard let link = links[id], case .connected(let current) = link.state, current === channel else { return }
        backOff(id, link)
    }

    private func backOff(_ id: UInt64, _ link: Link) {
        link.state = .backingOff
        link.queued.removeAll()
        link.backoffMilliseconds = min(max(link.backoffMilliseconds * 2, 25), 1000)
        loop.assumeIsolated().scheduleTask(in: .milliseconds(link.backoffMilliseconds)) { [weak self] in
            guard let self, !self.isStopped, case .backingOff = link.state else { return }
            link.state = .idle
        }
    }

    /// Closes every connection; later sends are dropped.
    func stop() {
        isStopped = true
        for link in links.values {
            if case .connected(let channel) = link.state { channel.close(promise: nil) }
        }
    }

    /// Listens for peers on `address`; each connection's messages go to `receive`.
    static func listen(
        on address: HostPort, loop: any EventLoop, clusterID: UInt64, reusePort: Bool,
        receive: @escaping @Sendable ([UInt8]) -> Void
    ) throws(ReplicatedKVError) -> any Channel {
        let bootstrap = ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .reusingPort(reusePort)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(RaftFrameDecoder()), RaftInboundHandler(clusterID: clusterID, receive: receive),
                    ])
                }
            }
        do { return try bootstrap.bind(host: address.host, port: address.port).wait() } catch {
            throw .bind(address: address.description, detail: "\(error)")
        }
    }
}
