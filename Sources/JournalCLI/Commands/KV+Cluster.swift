import ArgumentParser
import JournalCLISupport
import ReplicatedKV

/// `kv put|get|delete --cluster HOST:PORT,...`: the same commands against a
/// replicated cluster's HTTP API (`kv serve`), following redirects to the
/// leader and trying the other nodes until a deadline.
struct ClusterOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Speak to a replicated cluster: the HTTP addresses of its nodes (`kv serve`), comma-separated.",
        valueName: "host:port,..."))
    var cluster: String?

    @Option(help: "With --cluster: how long to keep trying the nodes, in milliseconds.")
    var clusterTimeoutMs: Int = 15_000

    /// A maker of the cluster client, when --cluster is given.
    func client() -> (() throws(CLIError) -> KVClusterClient)? {
        guard let cluster else { return nil }
        let deadline = clusterTimeoutMs
        return { () throws(CLIError) -> KVClusterClient in
            do { return KVClusterClient(endpoints: try KVClusterClient.endpoints(parsing: cluster), deadlineMilliseconds: deadline) } catch {
                throw CLIError(.usage, "--cluster: \(error)")
            }
        }
    }
}

enum ClusterArgument {
    static func error(_ error: KVClientError) -> CLIError {
        switch error {
        case .unavailable: CLIError(.unavailable, error.description)
        case .refused: CLIError(.usage, error.description)
        }
    }

    static func put(_ client: KVClusterClient, key: String, value: String) throws(CLIError) {
        do { try client.put(Array(key.utf8), Array(value.utf8)) } catch { throw Self.error(error) }
    }

    static func delete(_ client: KVClusterClient, key: String) throws(CLIError) {
        do { try client.delete(Array(key.utf8)) } catch { throw Self.error(error) }
    }

    static func get(_ client: KVClusterClient, key: String) throws(CLIError) {
        let value: [UInt8]?
        do { value = try client.get(Array(key.utf8)) } catch { throw Self.error(error) }
        guard let value else { throw CLIError(.notFound, "no such key: \(key)") }
        var line: [UInt8] = []
        value.withUnsafeBytes { PayloadText.escape($0, into: &line) }
        line.append(UInt8(ascii: "\n"))
        let out = OutputBuffer(fd: 1)
        out.write(bytes: line)
        out.flush()
    }
}
