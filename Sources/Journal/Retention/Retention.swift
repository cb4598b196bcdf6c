import JournalPrimitives
import JournalStorage
import Logging
import Metrics
import Synchronization

// Retention: what truncation must keep for reader positions
// (journal-format.md, section 12).
//
// Creating a named position races with a truncation in another process.
// Both sides publish, then look (checked by Tools/promela/retention.pml):
//   truncation: floor := L; list position files; cut := min(L, positions
//               within the bound); oldest := first kept; floor := oldest;
//               release segments below the cut
//   creation:   write the position file at P; load floor and oldest; if
//               either is above P, remove the file and fail
// Either the truncation lists the files after the new one is in place (and
// keeps P), or the creator loads the floor after it was raised (and fails).
// Advancing needs nothing of this: a position only moves up, past records
// the truncation already kept. Unnamed positions are registered and read
// under the journal's lock, as truncation decides what to release.

/// The journal's retention state.
final class RetentionState: @unchecked Sendable {
    // @unchecked: `unnamed`, `nextID` and the pending truncation are
    // guarded by the journal's lock.
    /// One truncation at a time: the floor belongs to it.
    let truncating = Mutex<Void>(())
    /// The LSN below which a truncation in progress may release records
    /// (the oldest LSN when none runs). In this process; the follow file
    /// carries it to others.
    let floor = Atomic<UInt64>(0)
    /// Unnamed positions, by id; weak, so a dropped handle holds nothing
    /// (its entry is pruned at the next registration: a handle's deinit may
    /// run under the journal's lock, so it takes nothing).
    var unnamed: [UInt64: WeakPosition] = [:]
    var nextID: UInt64 = 0
    /// Named position handles holding their claim, released when the
    /// journal closes; weak and pruned as `unnamed` is.
    var claimants: [ObjectIdentifier: WeakPosition] = [:]
    /// The highest LSN a `truncate(before:)` asked for, while reader
    /// positions keep records below it: the truncation is pending, and runs
    /// again at each segment activation (Retention+Pending.swift).
    var pendingBefore: LSN = 0
    /// The index of the newest segment when the pending truncation last ran.
    var pendingCheckedSegment: UInt64 = 0

    struct WeakPosition {
        weak var position: ReaderPosition?
    }
}

extension Journal {

    /// A position held in this process's memory from `lsn` on: until it is
    /// released (or the handle goes away) this journal's truncation keeps
    /// every record at or above it, within `JournalOptions.retainedBytesMax`.
    ///
    /// - Throws: `JournalError.lsnOutOfRange` if `lsn` is below `oldestLSN`
    ///   or above `nextLSN`; `.invalidArgument` on a journal open for
    ///   reading (its process does not truncate: use a named position).
    /// - Complexity: O(1).
    public func retainPosition(from lsn: LSN) throws(JournalError) -> ReaderPosition {
        if isReadOnly { throw .invalidArgument("an unnamed reader position holds back this process's truncation only; use a named position beside a writer in another process") }
        return try lock.withLock { () throws(JournalError) -> ReaderPosition in
            guard lsn >= firstLSN, lsn <= lastLSN + 1 else {
                throw .lsnOutOfRange(requested: lsn, first: firstLSN, durable: durable.load(ordering: .relaxed))
            }
            retention.unnamed = retention.unnamed.filter { $0.value.position != nil }
            retention.nextID += 1
            let position = ReaderPosition(journal: self, name: "", id: retention.nextID, lsn: lsn)
            retention.unnamed[position.id] = RetentionState.WeakPosition(position: position)
            return position
        }
    }

    /// Creates the named position `name` at `lsn`, durably: it holds back
    /// the truncation of whichever process writes the journal, now and
    /// after restarts and crashes, until `dropPosition(named:)`. Works from
    /// the writer's process and from any process that opened the journal
    /// with `openForFollowing` (or for reading, while no writer runs).
    ///
    /// The returned handle holds the position's claim (see
    /// `ReaderPosition`): release it to let another consumer have it.
    ///
    /// - Throws: `.invalidArgument` for a bad name or one already taken,
    ///   `.positionInUse` while another handle holds the name,
    ///   `.lsnOutOfRange` if `lsn` is below `oldestLSN` or above `nextLSN`
    ///   (also when a truncation released it while the position was made),
    ///   `.io` if the file cannot be written, `.closed` if the journal was
    ///   closed meanwhile (the position exists, unclaimed).
    /// - Complexity: two durable directory changes.
    public func createPosition(named name: String, at lsn: LSN) throws(JournalError) -> ReaderPosition {
        try PositionFile.validate(name)
        // Claimed before it exists, so two creators cannot both make it.
        let claim = try lockPositionFile(name)
        guard try PositionFile.read(storage, name: name) == nil else {
            claim.unlock()
            throw .invalidArgument("reader position '\(name)' already exists")
        }
        do throws(JournalError) {
            try validateFollowStart(lsn)
            try PositionFile.write(storage, name: name, lsn: lsn)
        } catch {
            claim.unlock()
            throw error
        }
        // Published; now look whether a truncation got past it meanwhile.
        let floor = max(retention.floor.load(ordering: .sequentiallyConsistent), tail?.shared.retentionFloor ?? 0)
        let oldest = max(oldestLSN, tail?.shared.oldestLSN ?? 0)
        if floor > lsn || oldest > lsn {
            try? removePositionFile(name)
            claim.unlock()
            throw .lsnOutOfRange(requested: lsn, first: max(floor, oldest), durable: durableLSN)
        }
        let position = ReaderPosition(journal: self, name: name, id: 0, lsn: lsn)
        try position.adopt(claim)
        return position
    }

    /// Locks the named position's lock file (`position-NAME.lock`, kept
    /// once made): the claim of its one consumer.
    ///
    /// - Throws: `.positionInUse` while another handle holds it.
    func lockPositionFile(_ name: String) throws(JournalError) -> any StorageLock {
        do { return try storage.lockFile(PositionFile.lockFileName(name)) } catch {
            if error.errno == .wouldBlock { throw .positionInUse(name: name) }
            throw JournalError.from(error)
        }
    }

    /// A follower may resume from `position`: truncation has not gone past
    /// it, and it is not above the next LSN.
    func checkResumable(_ position: ReaderPosition) throws(JournalError) {
        let lsn = position.lsn
        do { try validateFollowStart(lsn) } catch {
            if lsn < oldestLSN { throw position.fellBehind(needing: lsn, oldest: oldestLSN) }
            throw error
        }
    }

    /// The named position `name`, as its file holds it. The handle claims
    /// the position when it first advances or is followed from, not here.
    ///
    /// - Throws: `.invalidArgument` if there is no such position,
    ///   `.corruption` if its file is damaged.
    public func position(named name: String) throws(JournalError) -> ReaderPosition {
        try PositionFile.validate(name)
        guard let lsn = try PositionFile.read(storage, name: name) else {
            throw .invalidArgument("no reader position named '\(name)'")
        }
        return ReaderPosition(journal: self, name: name, id: 0, lsn: lsn)
    }

    /// Removes the named position `name` durably: truncation no longer
    /// keeps records for it. Its lock file stays (empty), so that a
    /// consumer never holds the lock of a file no longer named.
    ///
    /// - Throws: `.invalidArgument` if there is no such position,
    ///   `.positionInUse` while a consumer holds it, `.io`.
    public func dropPosition(named name: String) throws(JournalError) {
        try PositionFile.validate(name)
        let claim = try lockPositionFile(name)
        defer { claim.unlock() }
        guard try PositionFile.read(storage, name: name) != nil else {
            throw .invalidArgument("no reader position named '\(name)'")
        }
        try removePositionFile(name)
    }

    private func removePositionFile(_ name: String) throws(JournalError) {
        do { try storage.remove(PositionFile.fileName(name)) } catch { throw JournalError.from(error) }
    }

    /// Every named position, as its file holds it, by name.
    ///
    /// - Throws: `.corruption` naming a damaged position file (never a
    ///   position silently dropped), `.io`.
    public func namedPositions() throws(JournalError) -> [(name: String, lsn: LSN)] {
        var result: [(name: String, lsn: LSN)] = []
        for name in try PositionFile.names(storage) {
            // A file dropped since the listing is simply gone.
            if let lsn = try PositionFile.read(storage, name: name) { result.append((name, lsn)) }
        }
        return result
    }

    /// Every reader position (named ones first, by name; then this
    /// process's unnamed ones) with its lag behind the durable LSN. Also
    /// records the lag as the gauges `<prefix>.position.lag.records` and
    /// `<prefix>.position.lag.bytes`, dimension `position` = the name.
    ///
    /// - Throws: as `namedPositions()`.
    public func readerPositionStatuses() throws(JournalError) -> [ReaderPositionStatus] {
        let named = try namedPositions()
        let statuses = lock.withLock { () -> [ReaderPositionStatus] in
            let unnamed = retention.unnamed.values.compactMap(\.position).sorted { $0.id < $1.id }
            return named.map { statusLocked(name: $0.name, lsn: $0.lsn) } + unnamed.map { statusLocked(name: "", lsn: $0.lsn) }
        }
        recordLag(statuses)
        return statuses
    }

    func recordLag(_ statuses: [ReaderPositionStatus]) {
        let prefix = options.metricsPrefix
        for s in statuses where !s.name.isEmpty {
            Gauge(label: "\(prefix).position.lag.records", dimensions: [("position", s.name)]).record(Double(s.lagRecords))
            Gauge(label: "\(prefix).position.lag.bytes", dimensions: [("position", s.name)]).record(Double(s.lagBytes))
        }
    }

    /// Drops a released unnamed position from the registry.
    func forgetPosition(_ id: UInt64) {
        lock.withLock { _ = retention.unnamed.removeValue(forKey: id) }
    }

    /// Notes that `position` took its claim, for `close()` to release it.
    /// False once the journal is closing: the caller lets the claim go.
    func noteClaim(_ position: ReaderPosition) -> Bool {
        lock.withLock {
            guard !closing && !closed else { return false }
            retention.claimants = retention.claimants.filter { $0.value.position != nil }
            retention.claimants[ObjectIdentifier(position)] = RetentionState.WeakPosition(position: position)
            return true
        }
    }

    /// `position` let its claim go.
    func forgetClaim(_ position: ReaderPosition) {
        lock.withLock { _ = retention.claimants.removeValue(forKey: ObjectIdentifier(position)) }
    }

    /// Releases every named position handle still holding its claim (the
    /// journal closes: another consumer may take the positions, in this
    /// process or another, and the handles advance no more).
    func releasePositionClaims() {
        let held = lock.withLock {
            defer { retention.claimants.removeAll() }
            return retention.claimants.values.compactMap(\.position)
        }
        for position in held { position.release() }
    }
}
