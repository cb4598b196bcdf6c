public import Journal

// Following a running writer: a reader's refreshes as an async sequence,
// woken by the journal's follower (`Journal.follower(from:)` on the
// journal `openForFollowing` opened), which sleeps until the writer
// publishes a higher durable LSN: no polling.

extension PageStoreReader {
    /// The reader's LSN after each refresh that moved it, as commits become
    /// durable: for `for try await lsn in reader.updates()`. Each element is
    /// a refresh already done (reads after it see that LSN or a later one).
    /// The sequence ends when the reader closes or the task is cancelled.
    ///
    /// - Throws: `invalidArgument` for a reader opened with `.reopen` (it
    ///   has nothing to wait on), `closed`; the iterator throws what
    ///   `refresh()` throws.
    public func updates() throws(PageStoreError) -> PageStoreReaderUpdates {
        guard options.journalAccess == .follow else {
            throw .invalidArgument("updates() needs a reader opened with journalAccess .follow")
        }
        return try lock.withLock { () throws(PageStoreError) -> PageStoreReaderUpdates in
            guard !closed else { throw .closed }
            return PageStoreReaderUpdates(reader: self, journal: journal)
        }
    }
}

/// A reader's refreshes as commits become durable (see
/// `PageStoreReader.updates()`).
public struct PageStoreReaderUpdates: AsyncSequence, Sendable {
    public typealias Element = LSN
    let reader: PageStoreReader
    let journal: Journal

    public func makeAsyncIterator() -> Iterator { Iterator(reader: reader, journal: journal) }

    /// Waits for the next durable commit past the reader's LSN, then
    /// refreshes.
    public struct Iterator: AsyncIteratorProtocol {
        let reader: PageStoreReader
        let journal: Journal
        var follower: JournalFollower?

        /// The reader's new LSN, or nil once the reader closed or the task
        /// was cancelled.
        ///
        /// - Throws: `PageStoreError`, as `refresh()`.
        public mutating func next() async throws -> LSN? {
            while !Task.isCancelled {
                let current = reader.lsn
                if let lsn = try await nextDurable(after: current) {
                    guard lsn > current else { continue }
                } else {
                    return nil
                }
                let now = try reader.refresh()
                if now > current { return now }
            }
            return nil
        }

        /// The LSN of the next durable record past `lsn` (nil: the journal
        /// closed, or cancellation); past a truncation that released the
        /// follower's next record, the reader rebuilds and follows on. The
        /// follower starts at the journal's end when the reader is ahead of
        /// it (a snapshot newer than what this process has read of the log).
        private mutating func nextDurable(after lsn: LSN) async throws -> LSN? {
            do throws(JournalError) {
                let start = Swift.min(Swift.max(lsn + 1, journal.oldestLSN), journal.nextLSN)
                if follower == nil || (follower?.nextLSN ?? 0) < start {
                    follower?.cancel()
                    follower = try journal.follower(from: start)
                }
                guard let follower else { return nil }
                while let record = try await follower.next() {
                    if record.lsn > lsn { return record.lsn }
                }
                return nil
            } catch .lsnOutOfRange {
                follower = nil
                return lsn + 1
            } catch .closed {
                return nil
            } catch {
                throw PageStoreError.journal(error)
            }
        }
    }
}
