import Glibc
import NIOCore
import NIOPosix

/// Loopback ports held for nodes that a supervisor (a test, `kv bench`)
/// starts and restarts: each is a socket bound with `SO_REUSEPORT` that
/// never listens. The kernel hands a bound port to no one else, neither to
/// `bind` of port 0 nor as the local port of an outgoing connection, so the
/// port stays this cluster's across a node's kill and restart; a node started
/// with `--reuse-port` binds it beside the reservation. A connection to it
/// while no node listens is refused, as on a free port. Releasing a port
/// and passing its number on instead leaves a window in which another
/// process may take it.
public final class PortReservation: @unchecked Sendable {
    /// The reserved ports, all distinct.
    public let ports: [Int]
    private let descriptors: [Int32]

    /// Reserves `count` ports on 127.0.0.1.
    public init(count: Int) throws(ReplicatedKVError) {
        var descriptors: [Int32] = []
        var ports: [Int] = []
        for _ in 0..<count {
            guard let (fd, port) = Self.reserve() else {
                let e = errno
                for fd in descriptors { close(fd) }
                throw .bind(address: "127.0.0.1:0", detail: String(cString: strerror(e)))
            }
            descriptors.append(fd)
            ports.append(port)
        }
        self.ports = ports
        self.descriptors = descriptors
    }

    deinit {
        for fd in descriptors { close(fd) }
    }

    private static func reserve() -> (Int32, Int)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var one: Int32 = 1
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
            && withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
            }
        guard bound else {
            close(fd)
            return nil
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}

extension ServerBootstrap {
    /// With `reuse`, the listener binds with `SO_REUSEPORT`, beside a
    /// `PortReservation` of the same user.
    func reusingPort(_ reuse: Bool) -> ServerBootstrap {
        guard reuse else { return self }
        return serverChannelOption(ChannelOptions.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
    }
}
