import ArgumentParser
import JournalCLISupport
import ReplicatedKV

extension KV {
    /// `kv member list|add|remove --cluster HOST:PORT,...`: the membership
    /// of a replicated cluster, changed through its leader.
    struct Member: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List, add or remove the members of a replicated cluster (kv serve).",
            discussion: """
                `add` and `remove` return once the new configuration is committed (durable on a \\
                majority of it); each prints the membership as JSON. A node to add is started \\
                first with `kv serve --join`; it waits until it is added.
                """,
            subcommands: [List.self, Add.self, Remove.self])

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print the membership as JSON.")
            @OptionGroup var cluster: RequiredClusterOptions
            func run() throws {
                let client = try cluster.client()
                do { print(try client.membership().json) } catch { throw ClusterArgument.error(error) }
            }
        }

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a server as a voter: ID=HOST:RAFT_PORT/HTTP_PORT.")
            @OptionGroup var cluster: RequiredClusterOptions
            @Argument(help: ArgumentHelp("The new member's id and addresses.", valueName: "ID=HOST:RAFT_PORT/HTTP_PORT"))
            var member: String
            func run() throws {
                let peer: ClusterPeer
                do { peer = try ClusterPeer(parsing: Substring(member)) } catch { throw CLIError(.usage, error.description) }
                let client = try cluster.client()
                do { print(try client.addMember(peer), terminator: "") } catch { throw ClusterArgument.error(error) }
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove a server (the leader too: it steps down).")
            @OptionGroup var cluster: RequiredClusterOptions
            @Argument(help: "The member's id.") var id: UInt64
            func run() throws {
                let client = try cluster.client()
                do { print(try client.removeMember(id), terminator: "") } catch { throw ClusterArgument.error(error) }
            }
        }
    }
}

/// `--cluster` when a command needs it.
struct RequiredClusterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The HTTP addresses of the cluster's nodes, comma-separated.", valueName: "host:port,..."))
    var cluster: String

    @Option(help: "How long to keep trying the nodes, in milliseconds.")
    var clusterTimeoutMs: Int = 15_000

    func client() throws(CLIError) -> KVClusterClient {
        do { return KVClusterClient(endpoints: try KVClusterClient.endpoints(parsing: cluster), deadlineMilliseconds: clusterTimeoutMs) } catch {
            throw CLIError(.usage, "--cluster: \(error)")
        }
    }
}
