import CRaft
import Glibc
import JournalPrimitives

// The wire encoding of raft's messages (raft-log-format.md, "Messages"):
// the sender's id and address, then the type's fields, little-endian. The
// simulated network carries these bytes, and a TCP transport frames them.
// Decoding allocates what raft takes ownership of on receipt (entries and
// their batch, an installed snapshot's data and configuration) with raft's
// allocator.

enum RaftMessageCodec {
    /// Encodes `message`, sent by `senderID` at `senderAddress`.
    static func encode(_ m: UnsafePointer<raft_message>, senderID: UInt64, senderAddress: String) -> [UInt8] {
        var out: [UInt8] = []
        let address = Array(senderAddress.utf8)
        appendLE(&out, UInt64(m.pointee.type), bytes: 2)
        appendLE(&out, senderID, bytes: 8)
        appendLE(&out, UInt64(address.count), bytes: 2)
        out.append(contentsOf: address)
        switch Int(m.pointee.type) {
        case Int(RAFT_IO_REQUEST_VOTE):
            let v = m.pointee.request_vote
            for x in [v.term, v.candidate_id, v.last_log_index, v.last_log_term] { appendLE(&out, x, bytes: 8) }
            appendLE(&out, v.disrupt_leader ? 1 : 0, bytes: 1)
            appendLE(&out, v.pre_vote ? 1 : 0, bytes: 1)
        case Int(RAFT_IO_REQUEST_VOTE_RESULT):
            let v = m.pointee.request_vote_result
            appendLE(&out, v.term, bytes: 8)
            appendLE(&out, v.vote_granted ? 1 : 0, bytes: 1)
            appendLE(&out, UInt64(v.pre_vote.rawValue), bytes: 1)
        case Int(RAFT_IO_APPEND_ENTRIES):
            encodeAppendEntries(m.pointee.append_entries, into: &out)
        case Int(RAFT_IO_APPEND_ENTRIES_RESULT):
            let v = m.pointee.append_entries_result
            for x in [v.term, v.rejected, v.last_log_index] { appendLE(&out, x, bytes: 8) }
        case Int(RAFT_IO_INSTALL_SNAPSHOT):
            let v = m.pointee.install_snapshot
            for x in [v.term, v.last_index, v.last_term, v.conf_index] { appendLE(&out, x, bytes: 8) }
            encodeConfiguration(v.conf, into: &out)
            appendLE(&out, UInt64(v.data.len), bytes: 8)
            if v.data.len > 0, let base = v.data.base {
                out.append(contentsOf: UnsafeRawBufferPointer(start: base, count: v.data.len))
            }
        case Int(RAFT_IO_TIMEOUT_NOW):
            let v = m.pointee.timeout_now
            for x in [v.term, v.last_log_index, v.last_log_term] { appendLE(&out, x, bytes: 8) }
        default:
            assertionFailure("raft sent message type \(m.pointee.type)")
        }
        return out
    }

    private static func encodeAppendEntries(_ v: raft_append_entries, into out: inout [UInt8]) {
        for x in [v.term, v.prev_log_index, v.prev_log_term, v.leader_commit] { appendLE(&out, x, bytes: 8) }
        appendLE(&out, UInt64(v.n_entries), bytes: 4)
        for i in 0..<Int(v.n_entries) {
            let e = v.entries[i]
            appendLE(&out, e.term, bytes: 8)
            appendLE(&out, UInt64(e.type), bytes: 2)
            appendLE(&out, UInt64(e.buf.len), bytes: 4)
            if e.buf.len > 0, let base = e.buf.base {
                out.append(contentsOf: UnsafeRawBufferPointer(start: base, count: e.buf.len))
            }
        }
    }

    static func encodeConfiguration(_ c: raft_configuration, into out: inout [UInt8]) {
        appendLE(&out, UInt64(c.n), bytes: 4)
        for i in 0..<Int(c.n) {
            let s = c.servers[i]
            let address = s.address.map { Array(String(cString: $0).utf8) } ?? []
            appendLE(&out, s.id, bytes: 8)
            appendLE(&out, UInt64(UInt32(bitPattern: s.role)), bytes: 4)
            appendLE(&out, UInt64(address.count), bytes: 2)
            out.append(contentsOf: address)
        }
    }

    /// A decoded message: the raft message, and the sender's address string
    /// that must stay alive while raft reads the message (freed by `release`).
    struct Decoded {
        var message: raft_message
        var address: UnsafeMutablePointer<CChar>

        /// Frees what raft does not take over: the address string.
        func release() { free(address) }
    }

    /// Decodes `bytes`, or returns nil when they are not a whole message
    /// (nothing is left allocated then).
    static func decode(_ bytes: [UInt8]) -> Decoded? {
        bytes.withUnsafeBytes { b -> Decoded? in
            var c = ByteCursor(bytes: b)
            guard let type = c.le16(), let sender = c.le64(), let length = c.le16(),
                  let addressBytes = c.bytes(Int(length)) else { return nil }
            var message = raft_message()
            message.type = type
            message.server_id = sender
            guard decodeBody(type: Int32(type), cursor: &c, into: &message), c.isAtEnd else {
                releaseOwned(&message)
                return nil
            }
            guard let address = strdup(String(decoding: addressBytes, as: UTF8.self)) else {
                releaseOwned(&message)
                return nil
            }
            message.server_address = UnsafePointer(address)
            return Decoded(message: message, address: address)
        }
    }

    private static func decodeBody(type: Int32, cursor c: inout ByteCursor, into m: inout raft_message) -> Bool {
        switch type {
        case Int32(RAFT_IO_REQUEST_VOTE):
            guard let term = c.le64(), let candidate = c.le64(), let index = c.le64(), let lastTerm = c.le64(),
                  let disrupt = c.u8(), let pre = c.u8() else { return false }
            m.request_vote = raft_request_vote(
                term: term, candidate_id: candidate, last_log_index: index, last_log_term: lastTerm,
                disrupt_leader: disrupt != 0, pre_vote: pre != 0)
        case Int32(RAFT_IO_REQUEST_VOTE_RESULT):
            guard let term = c.le64(), let granted = c.u8(), let pre = c.u8(), pre <= 2 else { return false }
            m.request_vote_result = raft_request_vote_result(
                term: term, vote_granted: granted != 0, pre_vote: raft_tribool(rawValue: UInt32(pre)))
        case Int32(RAFT_IO_APPEND_ENTRIES):
            guard let v = decodeAppendEntries(&c) else { return false }
            m.append_entries = v
        case Int32(RAFT_IO_APPEND_ENTRIES_RESULT):
            guard let term = c.le64(), let rejected = c.le64(), let last = c.le64() else { return false }
            m.append_entries_result = raft_append_entries_result(term: term, rejected: rejected, last_log_index: last)
        case Int32(RAFT_IO_INSTALL_SNAPSHOT):
            guard let v = decodeInstallSnapshot(&c) else { return false }
            m.install_snapshot = v
        case Int32(RAFT_IO_TIMEOUT_NOW):
            guard let term = c.le64(), let index = c.le64(), let lastTerm = c.le64() else { return false }
            m.timeout_now = raft_timeout_now(term: term, last_log_index: index, last_log_term: lastTerm)
        default:
            return false
        }
        return true
    }

    /// Entries in one batch allocated with raft's allocator, as raft frees
    /// received entries.
    private static func decodeAppendEntries(_ c: inout ByteCursor) -> raft_append_entries? {
        guard let term = c.le64(), let prevIndex = c.le64(), let prevTerm = c.le64(), let commit = c.le64(),
              let count = c.le32() else { return nil }
        var parsed: [(UInt64, UInt16, UnsafeRawBufferPointer)] = []
        for _ in 0..<count {
            guard let t = c.le64(), let type = c.le16(), let length = c.le32(), let bytes = c.bytes(Int(length)) else { return nil }
            parsed.append((t, type, bytes))
        }
        let entries = RaftMemory.entries(parsed)
        return raft_append_entries(
            term: term, prev_log_index: prevIndex, prev_log_term: prevTerm, leader_commit: commit,
            entries: entries, n_entries: UInt32(parsed.count))
    }

    private static func decodeInstallSnapshot(_ c: inout ByteCursor) -> raft_install_snapshot? {
        guard let term = c.le64(), let lastIndex = c.le64(), let lastTerm = c.le64(), let confIndex = c.le64(),
              let servers = decodeConfiguration(&c), let dataBytes = c.le64(),
              let data = c.bytes(Int(clamping: dataBytes)) else { return nil }
        var v = raft_install_snapshot()
        v.term = term
        v.last_index = lastIndex
        v.last_term = lastTerm
        v.conf_index = confIndex
        v.conf = RaftMemory.configuration(servers)
        v.data = RaftMemory.buffer(data)
        return v
    }

    static func decodeConfiguration(_ c: inout ByteCursor) -> [RaftServer]? {
        guard let count = c.le32() else { return nil }
        var servers: [RaftServer] = []
        for _ in 0..<count {
            guard let id = c.le64(), let role = c.le32(), let length = c.le16(), let address = c.bytes(Int(length)) else { return nil }
            servers.append(RaftServer(id: id, address: String(decoding: address, as: UTF8.self), role: Int32(bitPattern: role)))
        }
        return servers
    }

    /// Frees what a partly decoded message owns.
    private static func releaseOwned(_ m: inout raft_message) {
        switch Int32(m.type) {
        case Int32(RAFT_IO_APPEND_ENTRIES):
            RaftMemory.destroyEntries(m.append_entries.entries, count: Int(m.append_entries.n_entries))
        case Int32(RAFT_IO_INSTALL_SNAPSHOT):
            raft_configuration_close(&m.install_snapshot.conf)
            raft_free(m.install_snapshot.data.base)
        default:
            break
        }
    }
}
