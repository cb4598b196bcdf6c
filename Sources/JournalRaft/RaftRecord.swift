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

        /// The 64-bit integers after the prefix of a record of this kind,
        /// which is then exactly that long; nil for the kinds whose length
        /// varies. The one statement of the fixed-size layouts, for the
        /// encoder and the decoder.
        var wordCount: Int? {
            switch self {
            case .state, .identity: 2
            case .truncation: 1
            case .snapshot: 3
            case .entry, .bootstrap: nil
            }
        }
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
            return Self.fixedSize(.state, [term, votedFor])
        case .truncation(let fromIndex):
            return Self.fixedSize(.truncation, [fromIndex])
        case .snapshot(let index, let term, let trailing):
            return Self.fixedSize(.snapshot, [index, term, trailing])
        case .bootstrap(let configuration):
            var out = Self.header(.bootstrap, count: Self.prefixBytes)
            out.append(contentsOf: configuration)
            return out
        case .identity(let clusterID, let serverID):
            return Self.fixedSize(.identity, [clusterID, serverID])
        }
    }

    /// A record of a fixed-size kind: the prefix, then `words` in order.
    private static func fixedSize(_ kind: Kind, _ words: [UInt64]) -> [UInt8] {
        assert(kind.wordCount == words.count, "the layout of \(kind) records")
        var out = header(kind, count: prefixBytes + 8 * words.count)
        for (i, word) in words.enumerated() { store(&out, word, at: prefixBytes + 8 * i) }
        return out
    }

    /// Decodes a record, or says why the bytes are not one.
    static func decode(_ b: UnsafeRawBufferPointer) -> Result<RaftRecord, RaftLogError> {
        guard b.count >= prefixBytes else { return .failure(.malformedRecord("\(b.count) bytes, shorter than the prefix")) }
        guard let kind = Kind(rawValue: b.u8(0)) else { return .failure(.malformedRecord("unknown kind \(b.u8(0))")) }
        guard b.slice(1, 7).isAllZero() else { return .failure(.malformedRecord("reserved prefix bytes are not zero")) }
        var words: [UInt64] = []
        if let count = kind.wordCount {
            let expected = prefixBytes + 8 * count
            guard b.count == expected else { return .failure(.malformedRecord("a \(kind) record of \(b.count) bytes, not \(expected)")) }
            words = (0..<count).map { b.le64(prefixBytes + 8 * $0) }
        }
        switch kind {
        case .entry:
            guard b.count >= entryHeaderBytes else { return .failure(.malformedRecord("an entry of \(b.count) bytes")) }
            guard b.slice(26, 6).isAllZero() else { return .failure(.malformedRecord("reserved entry bytes are not zero")) }
            let entry = RaftLogEntry(term: b.le64(16), type: b.le16(24), payload: Array(b[entryHeaderBytes...]))
            return .success(.entry(index: b.le64(8), entry: entry))
        case .state:
            return .success(.state(term: words[0], votedFor: words[1]))
        case .truncation:
            return .success(.truncation(fromIndex: words[0]))
        case .snapshot:
            return .success(.snapshot(index: words[0], term: words[1], trailing: words[2]))
        case .bootstrap:
            return .success(.bootstrap(configuration: Array(b[prefixBytes...])))
        case .identity:
            return .success(.identity(clusterID: words[0], serverID: words[1]))
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
