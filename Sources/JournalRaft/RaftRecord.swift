import JournalPrimitives

// The records of the raft log store: what one journal record's payload holds
// (raft-log-format.md, the normative description). Every record starts with
// an 8-byte prefix: a kind byte, then seven zero bytes, so that the integers
// after it sit at aligned offsets. The journal checksums and frames each
// record; this codec only has to tell kinds apart and reject what it does not
// understand.

/// One raft log entry as the store keeps it: the term it was created in,
/// raft's entry type (command, barrier, configuration change) and the
/// payload bytes.
public struct RaftLogEntry: Sendable, Equatable {
    public var term: UInt64
    public var type: UInt16
    public var payload: [UInt8]

    public init(term: UInt64, type: UInt16, payload: [UInt8]) {
        self.term = term
        self.type = type
        self.payload = payload
    }
}

/// A record of the raft log store, decoded.
enum RaftRecord: Equatable {
    /// Entry `index` of the log; any earlier record for an index at or above
    /// it must have been removed by a truncation marker first.
    case entry(index: UInt64, entry: RaftLogEntry)
    /// The current term and the vote cast in it (0: none), written together
    /// so that one record changes both atomically.
    case state(term: UInt64, votedFor: UInt64)
    /// Removes every entry at `fromIndex` and above that precedes this
    /// record in the journal.
    case truncation(fromIndex: UInt64)
    /// A snapshot through `index` (of term `term`) is durable in the file the
    /// pair names. With `trailing` 0 it replaces the whole log (an installed
    /// snapshot): every earlier entry is removed.
    case snapshot(index: UInt64, term: UInt64, trailing: UInt64)
    /// The cluster's first configuration: term 1, no vote, and entry 1 of
    /// term 1 holding `configuration` (raft's encoding), in one record so
    /// that a crash leaves a store either pristine or bootstrapped.
    case bootstrap(configuration: [UInt8])
    /// The cluster the store belongs to and the server it is, recorded when
    /// the store is first opened with an identity and repeated beside each
    /// snapshot (so that compaction keeps it).
    case identity(clusterID: UInt64, serverID: UInt64)

    /// Kind bytes. Zero is never a kind: a zeroed payload is not a record.
    enum Kind: UInt8 {
        case entry = 1, state = 2, truncation = 3, snapshot = 4, bootstrap = 5, identity = 6
    }

    /// Bytes before the payload of an entry: prefix, index, term, type and
    /// six reserved zero bytes.
    static let entryHeaderBytes = 32
    static let prefixBytes = 8

    /// The record's bytes, ready to append to the journal.
    func encoded() -> [UInt8] {
        switch self {
        case .entry(let index, let entry):
            var out = Self.header(.entry, count: Self.entryHeaderBytes + entry.payload.count)
            Self.store(&out, entry.term, at: 16)
            Self.store(&out, index, at: 8)
            out[24] = UInt8(truncatingIfNeeded: entry.type)
            out[25] = UInt8(truncatingIfNeeded: entry.type >> 8)
            out.replaceSubrange(Self.entryHeaderBytes..., with: entry.payload)
            return out
        case .state(let term, let votedFor):
            var out = Self.header(.state, count: 24)
            Self.store(&out, term, at: 8)
            Self.store(&out, votedFor, at: 16)
            return out
        case .truncation(let fromIndex):
            var out = Self.header(.truncation, count: 16)
            Self.store(&out, fromIndex, at: 8)
            return out
        case .snapshot(let index, let term, let trailing):
            var out = Self.header(.snapshot, count: 32)
            Self.store(&out, index, at: 8)
            Self.store(&out, term, at: 16)
            Self.store(&out, trailing, at: 24)
            return out
        case .bootstrap(let configuration):
            var out = Self.header(.bootstrap, count: Self.prefixBytes)
            out.append(contentsOf: configuration)
            return out
        case .identity(let clusterID, let serverID):
            var out = Self.header(.identity, count: 24)
            Self.store(&out, clusterID, at: 8)
            Self.store(&out, serverID, at: 16)
            return out
        }
    }

    /// Decodes a record, or says why the bytes are not one.
    static func decode(_ b: UnsafeRawBufferPointer) -> Result<RaftRecord, RaftLogError> {
        guard b.count >= prefixBytes else { return .failure(.malformedRecord("\(b.count) bytes, shorter than the prefix")) }
        guard let kind = Kind(rawValue: b.u8(0)) else { return .failure(.malformedRecord("unknown kind \(b.u8(0))")) }
        guard b.slice(1, 7).isAllZero() else { return .failure(.malformedRecord("reserved prefix bytes are not zero")) }
        let expected: Int? = switch kind {
        case .state, .identity: 24
        case .truncation: 16
        case .snapshot: 32
        case .entry, .bootstrap: nil
        }
        if let expected, b.count != expected {
            return .failure(.malformedRecord("a \(kind) record of \(b.count) bytes, not \(expected)"))
        }
        switch kind {
        case .entry:
            guard b.count >= entryHeaderBytes else { return .failure(.malformedRecord("an entry of \(b.count) bytes")) }
            guard b.slice(26, 6).isAllZero() else { return .failure(.malformedRecord("reserved entry bytes are not zero")) }
            let entry = RaftLogEntry(term: b.le64(16), type: b.le16(24), payload: Array(b[entryHeaderBytes...]))
            return .success(.entry(index: b.le64(8), entry: entry))
        case .state:
            return .success(.state(term: b.le64(8), votedFor: b.le64(16)))
        case .truncation:
            return .success(.truncation(fromIndex: b.le64(8)))
        case .snapshot:
            return .success(.snapshot(index: b.le64(8), term: b.le64(16), trailing: b.le64(24)))
        case .bootstrap:
            return .success(.bootstrap(configuration: Array(b[prefixBytes...])))
        case .identity:
            return .success(.identity(clusterID: b.le64(8), serverID: b.le64(16)))
        }
    }

    private static func header(_ kind: Kind, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out[0] = kind.rawValue
        return out
    }

    private static func store(_ out: inout [UInt8], _ value: UInt64, at offset: Int) {
        withMutableBytes(&out) { $0.storeLE64(value, at: offset) }
    }
}
