import JournalRaft
@testable import ReplicatedKV
import Testing

@Suite("Replicated key-value service: encodings")
struct CodecTests {
    @Test("commands and images round-trip; truncated ones do not decode")
    func roundTrips() {
        for command in [KVCommand.put(key: [1, 2], value: [3, 4, 5]), .put(key: [9], value: []), .delete(key: [7, 7])] {
            let bytes = command.encoded
            #expect(bytes.withUnsafeBytes { try? KVCommand.decode($0) } == command)
            #expect(bytes.dropLast().withUnsafeBytes { try? KVCommand.decode($0) } != command)
        }
        let image = KVImage(appliedIndex: 42, pairs: [([1], [2, 3]), ([4, 5], [])])
        let bytes = image.encoded
        #expect(bytes.withUnsafeBytes { KVImage(decoding: $0) } == image)
        #expect(bytes.dropLast().withUnsafeBytes { KVImage(decoding: $0) } == nil)
    }

    @Test("an entry's commands: one, or a batch's in order; an unknown kind or a broken batch is refused, not skipped")
    func entryCommands() throws {
        let writes = [KVCommand.put(key: [1], value: [2]), .delete(key: [1]), .put(key: [3], value: [])]
        let batch = RaftCommandBatch.encode(writes.map(\.encoded))
        #expect(try batch.withUnsafeBytes { try KVCommand.commands(in: $0) } == writes)
        #expect(try writes[0].encoded.withUnsafeBytes { try KVCommand.commands(in: $0) } == [writes[0]])
        #expect(throws: KVCommandError.unknownKind(9)) { try [9, 1, 0, 5].withUnsafeBytes { try KVCommand.commands(in: $0) } }
        let hidden = RaftCommandBatch.encode([writes[0].encoded, [9, 0, 0]])
        #expect(throws: KVCommandError.unknownKind(9), "an unknown kind inside a batch") {
            try hidden.withUnsafeBytes { try KVCommand.commands(in: $0) }
        }
        #expect(throws: KVCommandError.self, "a truncated batch") {
            try batch.dropLast().withUnsafeBytes { try KVCommand.commands(in: $0) }
        }
        let refused = ReplicatedKVError.refusedEntry(index: 7, reason: .unknownKind(9))
        #expect(refused.description.contains("entry 7") && refused.description.contains("kind 9"))
    }

    @Test("peers lists parse into members in id order with a stable cluster id")
    func peers() throws {
        let a = try ClusterPeers(parsing: "2=h2:20/21,1=h1:10/11")
        #expect(a.members.map(\.id) == [1, 2])
        #expect(a.member(2)?.http == HostPort(host: "h2", port: 21))
        let b = try ClusterPeers(parsing: "1=h1:10/99,2=h2:20/98")
        #expect(a.clusterID == b.clusterID, "HTTP ports are not part of the identity")
        #expect(try ClusterPeers(parsing: "1=h1:10/11,2=h2:22/21").clusterID != a.clusterID)
    }

    @Test("keys in paths are percent-decoded, and encoded back")
    func targets() {
        #expect(HTTPTarget("/kv/a%2Fb?local") == .key(Array("a/b".utf8), local: true))
        #expect(HTTPTarget("/kv/") == .unknown)
        #expect(HTTPTarget("/status") == .status)
        #expect(HTTPTarget.percentEncoded(Array("a/b c".utf8)) == "a%2Fb%20c")
    }
}
