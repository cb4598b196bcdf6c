import CRaft
import JournalRaft
import Testing

@Suite("Raft command batches: encoding and gathering")
struct RaftCommandBatchTests {
    func commands(_ payload: [UInt8]) throws -> [[UInt8]] {
        try payload.withUnsafeBytes { try RaftCommandBatch.commands(in: $0).map { Array($0) } }
    }

    @Test("a batch round-trips; a payload that is not a batch is one command")
    func roundTrip() throws {
        let batch: [[UInt8]] = [[1, 2, 3], [2], [1] + [UInt8](repeating: 7, count: 300)]
        let encoded = RaftCommandBatch.encode(batch)
        #expect(encoded.first == RaftCommandBatch.kind)
        #expect(encoded.count == RaftCommandBatch.encodedBytes(commandBytes: 305, count: 3))
        #expect(try commands(encoded) == batch)
        #expect(try commands([1, 9, 9]) == [[1, 9, 9]])
        #expect(try commands(RaftCommandBatch.encode([[4, 4]])) == [[4, 4]])
    }

    @Test("malformed batches are refused: truncated, empty, a nested batch, bytes after the end")
    func malformed() {
        let encoded = RaftCommandBatch.encode([[1, 2], [1, 3, 4]])
        for cut in 1..<encoded.count {
            #expect(throws: RaftCommandBatch.Malformed.self) { try commands(Array(encoded.prefix(cut))) }
        }
        #expect(throws: RaftCommandBatch.Malformed.self) { try commands(encoded + [0]) }
        #expect(throws: RaftCommandBatch.Malformed.self) { try commands([RaftCommandBatch.kind, 0, 0]) }
        #expect(throws: RaftCommandBatch.Malformed.self) { try commands([RaftCommandBatch.kind, 1, 0, 0, 0, 0, 0]) }
        let nested = [RaftCommandBatch.kind, 1, 0, 3, 0, 0, 0, RaftCommandBatch.kind, 0, 0]
        #expect(throws: RaftCommandBatch.Malformed.self) { try commands(nested) }
    }

    /// A batcher over a recording proposer: entries complete when the test says.
    final class Proposals {
        var payloads: [[UInt8]] = []
        var completions: [RaftCommandBatcher.Completion] = []
        var refuse: Int32 = 0
        func propose(_ payload: [UInt8], _ complete: @escaping RaftCommandBatcher.Completion) -> Int32 {
            if refuse != 0 { return refuse }
            payloads.append(payload)
            completions.append(complete)
            return 0
        }
    }

    @Test("commands that arrive while an entry waits go into the next one, each told its entry's outcome")
    func gathering() throws {
        let proposals = Proposals()
        let batcher = RaftCommandBatcher(propose: proposals.propose)
        var flushes = 0
        batcher.scheduleFlush = { flushes += 1 }
        var outcomes: [Int: (Int32, UInt64)] = [:]
        batcher.submit([1, 0]) { outcomes[0] = ($0, $1) }
        #expect(flushes == 1)
        batcher.flush()
        #expect(proposals.payloads == [[1, 0]], "a lone command goes as itself")
        for i in 1...3 { batcher.submit([1, UInt8(i)]) { outcomes[i] = ($0, $1) } }
        batcher.flush()
        #expect(proposals.payloads.count == 1 && batcher.pendingCount == 3, "one entry in flight: the others wait")
        proposals.completions[0](0, 10)
        #expect(flushes == 3, "a completion with commands waiting asks for a flush")
        batcher.flush()
        #expect(try commands(proposals.payloads[1]) == [[1, 1], [1, 2], [1, 3]])
        proposals.completions[1](RAFT_LEADERSHIPLOST, 11)
        #expect(outcomes[0]! == (0, 10))
        for i in 1...3 { #expect(outcomes[i]! == (RAFT_LEADERSHIPLOST, 11)) }
        #expect(batcher.entriesProposed == 2 && batcher.batchEntriesProposed == 1)
    }

    @Test("a batch stops at its command and byte bounds; refused and abandoned commands get index 0")
    func bounds() throws {
        let proposals = Proposals()
        let batcher = RaftCommandBatcher(entriesInFlightMax: 100, bytesMax: 3 + 3 * (4 + 10), propose: proposals.propose)
        let total = RaftCommandBatch.commandsMax + 5
        for i in 0..<total { batcher.submit([1] + [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 9)) { _, _ in } }
        batcher.flush()
        #expect(try proposals.payloads.map { try commands($0).count } == Array(repeating: 3, count: total / 3) + [total % 3].filter { $0 > 0 })

        let unbounded = RaftCommandBatcher(entriesInFlightMax: 100, propose: proposals.propose)
        proposals.payloads = []
        for _ in 0..<total { unbounded.submit([1, 1]) { _, _ in } }
        unbounded.flush()
        #expect(try proposals.payloads.map { try commands($0).count } == [RaftCommandBatch.commandsMax, 5])

        var outcomes: [(Int32, UInt64)] = []
        proposals.refuse = RAFT_NOTLEADER
        unbounded.submit([1, 2]) { outcomes.append(($0, $1)) }
        unbounded.flush()
        proposals.refuse = 0
        unbounded.submit([1, 3]) { outcomes.append(($0, $1)) }
        unbounded.failPending(RAFT_SHUTDOWN)
        #expect(outcomes.count == 2 && outcomes[0] == (RAFT_NOTLEADER, 0) && outcomes[1] == (RAFT_SHUTDOWN, 0))
    }
}
