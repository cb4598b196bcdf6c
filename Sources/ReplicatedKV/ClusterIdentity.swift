import Glibc

// The store directory's identity file, `cluster.id`: one line written at
// bootstrap, before the raft log exists, and checked at every start, so that
// a directory bootstrapped for another cluster or as another member is
// refused rather than served (its log would mix two clusters' histories).
//
//     swift-journal-kv cluster <16 hex digits> member <id> peers <canonical list>
//
// It is written under `cluster.id.new`, synced, renamed over `cluster.id`,
// and the directory synced: a crash leaves the whole line or none.

enum ClusterIdentity {
    static let fileName = "cluster.id"

    /// The line of a node started with `options`: a bootstrapped member
    /// names the peers list, a node that joined says `joined`.
    static func line(_ options: KVServiceOptions) -> String {
        let how = options.joining ? "joined" : "peers \(options.peers.canonicalText)"
        return "swift-journal-kv cluster \(hex(options.clusterID)) member \(options.id) \(how)\n"
    }

    /// A cluster id as 16 hex digits.
    static func hex(_ clusterID: UInt64) -> String {
        let hex = String(clusterID, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Checks `directory`'s identity against `options`, writing it when the
    /// directory has none and holds no raft log yet.
    static func check(directory: String, options: KVServiceOptions, hasRaftLog: Bool) throws(ReplicatedKVError) {
        let expected = line(options)
        let path = directory + "/" + fileName
        guard let found = readFile(path) else {
            if hasRaftLog {
                throw .otherCluster(path: directory, detail: "it holds a raft log but no \(fileName)")
            }
            try writeDurably(expected, directory: directory)
            return
        }
        guard found == expected else {
            let shown = found.split(separator: "\n").first.map(String.init) ?? ""
            throw .otherCluster(path: directory, detail: "its \(fileName) says '\(shown)', this node is '\(expected.dropLast())'")
        }
    }

    /// The cluster id a store directory records for member `id` when that
    /// member joined a running cluster; nil if it records none, another
    /// member, or a bootstrapped one.
    static func joinedCluster(directory: String, id: UInt64) -> UInt64? {
        guard let found = readFile(directory + "/" + fileName) else { return nil }
        let words = found.split(separator: "\n").first?.split(separator: " ") ?? []
        guard words.count == 6, words[0] == "swift-journal-kv", words[1] == "cluster", words[3] == "member",
              UInt64(words[4]) == id, words[5] == "joined" else { return nil }
        return UInt64(words[2], radix: 16)
    }

    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func writeDurably(_ text: String, directory: String) throws(ReplicatedKVError) {
        let temporary = directory + "/" + fileName + ".new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .store("cannot create \(temporary): errno \(errno)") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else { throw .store("cannot write \(temporary): errno \(errno)") }
        guard rename(temporary, directory + "/" + fileName) == 0 else { throw .store("cannot rename \(temporary): errno \(errno)") }
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw .store("cannot open \(directory): errno \(errno)") }
        defer { close(dir) }
        guard fsync(dir) == 0 else { throw .store("cannot sync \(directory): errno \(errno)") }
    }
}
