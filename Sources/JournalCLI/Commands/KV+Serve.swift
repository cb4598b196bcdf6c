import ArgumentParser
import Glibc
import JournalCLISupport
import JournalPrimitives
import ReplicatedKV

extension KV {
    /// `kv serve`: one node of a replicated key-value cluster.
    struct Serve: ParsableCommand, LoggingCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one node of a replicated key-value cluster (raft over TCP, an HTTP/JSON API).",
            discussion: """
                Each member of --peers is ID=HOST:RAFT_PORT/HTTP_PORT: raft listens on \
                HOST:RAFT_PORT, the HTTP API on HOST:HTTP_PORT. All nodes must be given the same \
                list. The first start bootstraps the store directory for this cluster and member \
                (DIR/cluster.id); a later start with another list or id is refused (exit 78). \
                With --join, the node joins a running cluster instead: --peers names only this \
                node, the members and the cluster id come from the nodes given, and the node \
                waits until a member adds it (`kv member add`). Later starts resume the membership \
                recorded in the store directory, with or without --join (which is then not read). \
                On SIGTERM or SIGINT the node stops cleanly and exits 0. \
                API: PUT, GET, DELETE /kv/{key}, GET /status (Docs/cli.md).
                """)

        @Option(name: .long, help: ArgumentHelp("The node's store directory (created on first start).", valueName: "dir"))
        var store: String
        @Option(name: .long, help: "The node's raft id: one of the ids in --peers.")
        var id: UInt64
        @Option(name: .long, help: ArgumentHelp("Every member: ID=HOST:RAFT_PORT/HTTP_PORT, comma-separated.", valueName: "peers"))
        var peers: String
        @Option(name: .long, help: ArgumentHelp("Join the running cluster these nodes serve (their HTTP addresses) rather than bootstrap one.", valueName: "host:port,..."))
        var join: String?
        @Option(name: .long, help: ArgumentHelp("Where raft listens (default: the node's --peers entry).", valueName: "host:port"))
        var listen: String?
        @Option(name: .long, help: ArgumentHelp("Where the HTTP API listens (default: the node's host and HTTP port).", valueName: "host:port"))
        var http: String?
        @Option(name: .long, help: "Raft's election timeout in milliseconds (randomized up to twice that).")
        var electionTimeoutMs: UInt32 = 1000
        @Option(name: .long, help: "The leader's heartbeat in milliseconds.")
        var heartbeatMs: UInt32 = 100
        @Option(name: .long, help: "How long a request waits for the cluster before HTTP 503, in milliseconds.")
        var requestTimeoutMs: Int64 = 5000
        @Option(name: .long, help: "Close a kept-alive HTTP connection that receives nothing for this long while no request of it waits, in milliseconds (0: never).")
        var idleTimeoutMs: Int64 = 60_000
        @Option(name: .long, help: "On SIGTERM, how long requests waiting for the cluster may still finish before HTTP 503, in milliseconds.")
        var stopGraceMs: Int64 = 2000
        @Option(name: .long, help: "Raft entries between snapshots (an image of the store), and entries kept behind one.")
        var snapshotThreshold: UInt32 = 8192
        @Option(name: .long, help: "Raft entries kept behind a snapshot, for followers that lag.")
        var snapshotTrailing: UInt32 = 2048
        @Option(name: .long, help: "Segment size of the node's journals in MiB, fixed when the store is created (recovery reads up to one segment past the end).")
        var segmentMib: Int = 8
        @Flag(name: .long, help: "Open files without O_DIRECT (writes stay durable with O_DSYNC).")
        var noDirect = false
        @Flag(name: .long, help: "Bind with SO_REUSEPORT, beside sockets a supervisor holds to keep the ports reserved while the node is down.")
        var reusePort = false
        @Flag(name: .long, help: "Log at level info to stderr.")
        var verbose = false

        func options() throws(CLIError) -> KVServiceOptions {
            guard (1...1024).contains(segmentMib) else { throw CLIError(.usage, "--segment-mib must be 1...1024") }
            guard idleTimeoutMs >= 0 else { throw CLIError(.usage, "--idle-timeout-ms must be 0 or more") }
            var o: KVServiceOptions
            do throws(ReplicatedKVError) {
                o = try KVServiceOptions(storePath: store, id: id, peers: ClusterPeers(parsing: peers))
                if let listen { o.listen = try HostPort(parsing: Substring(listen)) }
                if let http { o.http = try HostPort(parsing: Substring(http)) }
            } catch {
                throw Self.error(error)
            }
            o.directIO = !noDirect
            o.reusePort = reusePort
            o.journalSegmentBytes = segmentMib << 20
            o.snapshotThreshold = snapshotThreshold
            o.snapshotTrailing = snapshotTrailing
            o.electionTimeoutMilliseconds = electionTimeoutMs
            o.heartbeatTimeoutMilliseconds = heartbeatMs
            o.requestTimeoutMilliseconds = requestTimeoutMs
            o.idleTimeoutMilliseconds = idleTimeoutMs
            o.stopGraceMilliseconds = stopGraceMs
            // A node that joined at an earlier start resumes from its store
            // directory; --join is read only until then.
            if !o.resumeJoined(), let join {
                let membership = try Self.membership(join, timeoutMilliseconds: Int(requestTimeoutMs) * 3)
                do throws(ReplicatedKVError) { try o.join(membership) } catch { throw Self.error(error) }
            }
            return o
        }

        /// The membership of the cluster the `--join` nodes serve.
        static func membership(_ join: String, timeoutMilliseconds: Int) throws(CLIError) -> ClusterMembership {
            let endpoints: [HostPort]
            do { endpoints = try KVClusterClient.endpoints(parsing: join) } catch { throw CLIError(.usage, "--join: \(error)") }
            do { return try KVClusterClient(endpoints: endpoints, deadlineMilliseconds: timeoutMilliseconds).membership() } catch {
                throw CLIError(.unavailable, "--join: \(error)")
            }
        }

        static func error(_ error: ReplicatedKVError) -> CLIError {
            switch error {
            case .malformedPeers, .unknownID: CLIError(.usage, error.description)
            case .otherCluster: CLIError(.configuration, error.description)
            case .corruption: CLIError(.corruption, error.description)
            case .locked: CLIError(.locked, error.description)
            case .bind: CLIError(.unavailable, error.description)
            case .store, .raft: CLIError(.ioError, error.description)
            case .refusedEntry(_, .unknownKind): CLIError(.configuration, error.description)
            case .refusedEntry(_, .malformed): CLIError(.corruption, error.description)
            }
        }

        func run() throws {
            let options = try options()
            // Blocked before any thread starts, so that every thread
            // inherits the mask and only `sigwait` below receives them.
            var signals = sigset_t()
            sigemptyset(&signals)
            sigaddset(&signals, SIGTERM)
            sigaddset(&signals, SIGINT)
            pthread_sigmask(SIG_BLOCK, &signals, nil)
            let service: KVService
            let main = pthread_self()
            let removed = LockedValue<String?>(nil)
            do throws(ReplicatedKVError) {
                service = try KVService.start(options, onFatal: { failure in
                    let line = "journalctl-swift: \(failure): stopping\n"
                    _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
                    Glibc.exit(Self.error(failure).code.rawValue)
                }, onRemoved: { why in
                    // Stops the node as SIGTERM does (the main thread
                    // waits for it), then exits 69.
                    removed.withLock { $0 = why }
                    pthread_kill(main, SIGTERM)
                })
            } catch {
                throw Self.error(error)
            }
            let out = OutputBuffer(fd: 1)
            out.write(bytes: Array("node \(options.id) serving: raft \(options.listen), http \(options.http)\n".utf8))
            out.flush()
            var received: Int32 = 0
            while sigwait(&signals, &received) != 0 {}
            service.stop(graceMilliseconds: options.stopGraceMilliseconds)
            if let why = removed.withLock({ $0 }) {
                out.write(bytes: Array("node \(options.id) stopped: removed from the cluster\n".utf8))
                out.flush()
                throw CLIError(.unavailable, "node \(options.id) was removed from the cluster (\(why)); it stopped")
            }
            out.write(bytes: Array("node \(options.id) stopped (signal \(received))\n".utf8))
            out.flush()
        }
    }
}
