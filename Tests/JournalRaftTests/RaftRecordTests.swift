@testable import JournalRaft
import JournalPrimitives
import Testing

@Suite("Raft log records")
struct RaftRecordTests {
    @Test("every kind round-trips through its encoding")
    func roundTrip() throws {
        let records: [RaftRecord] = [
            .entry(index: 7, entry: RaftLogEntry(term: 3, type: 1, payload: [1, 2, 3])),
            .entry(index: 1, entry: RaftLogEntry(term: 1, type: 2, payload: [])),
            .state(term: 9, votedFor: 2),
            .truncation(fromIndex: 5),
            .snapshot(index: 100, term: 4, trailing: 16),
            .bootstrap(configuration: [9, 8, 7]),
        ]
        for record in records {
            let decoded = withBytes(record.encoded()) { RaftRecord.decode($0) }
            #expect(decoded == .success(record))
        }
    }

    @Test("unknown kinds, short records and dirty reserved bytes are refused")
    func malformed() {
        var state = RaftRecord.state(term: 1, votedFor: 0).encoded()
        let bad: [[UInt8]] = [[], [1, 0, 0], [9, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0], Array(state.dropLast())]
        for bytes in bad {
            guard case .failure = withBytes(bytes, { RaftRecord.decode($0) }) else {
                Issue.record("decoded \(bytes)")
                continue
            }
        }
        state[3] = 1
        guard case .failure = withBytes(state, { RaftRecord.decode($0) }) else {
            Issue.record("decoded a record with a nonzero reserved byte")
            return
        }
    }
}
