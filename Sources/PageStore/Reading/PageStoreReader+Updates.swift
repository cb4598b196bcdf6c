public import Journal

// Following a running writer: a reader's refreshes as an async sequence.
// With `.follow`, woken by the journal's follower (`Journal.follower(from:)`
// on the journal `openForFollowing` opened), which sleeps until the writer
// publishes a higher durable LSN: no polling. With `.reopen` (storage
// without shared memory, where nothing can wake a reader in another
// process), a refresh every `reopenPollMilliseconds`.

extension PageStoreReader {
    /// The reader's LSN after each refresh that moved it, as commits become
    /// durable: for `for try await lsn in reader.updates()`. Each element is
    /// a refresh already done (reads after it see that LSN or a later one).
    /// The sequence ends when the reader closes or the task is cancelled.
    ///
    /// A reader opened with `.follow` sleeps until the writer publishes a
    /// new durable LSN. One opened with `.reopen` cannot be woken (its
    /// storage has no shared follow file), so it polls: a refresh (which
    /// opens the journal again) every
    /// `PageStoreReadOptions.reopenPollMilliseconds`, yielding when the LSN
    /// moved. Choose `.follow` wherever the file system maps files shared.
    ///
    /// - Throws: `closed`; the iterator throws what `refresh()` throws.
    public func updates() throws(PageStoreError) -> PageStoreReaderUpdates {
        try lock.withLock { () throws(PageStoreError) -> PageStoreReaderUpdates in
            guard !closed else { throw .closed }
            let poll = options.journalAccess == .reopen ? UInt64(max(1, options.reopenPollMilliseconds)) : nil
            return PageStoreReaderUpdates(reader: self, journal: journal, pollMilliseconds: poll)
        }
    }
}

/// A reader's refreshes as commits become durable (see
/// `PageStoreReader.updates()`).
public struct PageStoreReaderUpdates: AsyncSequence, Sendable {
    public typealias Element = LSN
    let reader: PageStoreReader
    let journal: Journal
    /// Polls at this interval (a `.reopen` reader); nil: woken by the journal.
    let pollMilliseconds: UInt64?

    public func makeAsyncIterator() -> Iterator { Iterator(reader: reader, journal: journal, pollMilliseconds: pollMilliseconds) }

    /// Waits for the next durable commit past the reader's LSN, then
    /// refreshes.
    public struct Iterator: AsyncIteratorProtocol {
        let reader: PageStoreReader
        /// The reader's journal (a refresh may replace it: see `nextDurable`).
        var journal: Journal
        let pollMilliseconds: UInt64?
        var follower: JournalFollower?
        /// After a refresh that could not move: wait for a record past this
        /// durable LSN of this process's journal before refreshing again.
        var waitPast: LSN?

        init(reader: PageStoreReader, journal: Journal, pollMilliseconds: UInt64?) {
            self.reader = reader
            self.journal = journal
            self.pollMilliseconds = pollMilliseconds
        }

        /// The reader's new LSN, or nil once the reader closed or the task
        /// was cancelled.
        ///
        /// - Throws: `PageStoreError`, as `refresh()`.
        public mutating func next() async throws -> LSN? {
            if let pollMilliseconds { return try await poll(every: pollMilliseconds) }
            while !Task.isCancelled {
                let current = reader.lsn
                guard let lsn = try await nextDurable(after: current) else { return nil }
                guard lsn > current else { continue }
                let now = try reader.refresh()
                if now > current { return now }
                // Nothing newer is readable here yet (this process has not
                // seen the commits that would move the reader): sleep until
                // its journal publishes more, rather than try again at once.
                waitPast = journal.durableLSN
            }
            return nil
        }

        /// Refreshes every `interval` milliseconds until the LSN moves.
        private func poll(every interval: UInt64) async throws -> LSN? {
            while !Task.isCancelled {
                let current = reader.lsn
                let now: LSN
                do { now = try reader.refresh() } catch PageStoreError.closed { return nil }
                if now > current { return now }
                do { try await Task.sleep(nanoseconds: interval * 1_000_000) } catch { return nil }
            }
            return nil
        }

        /// The LSN of the next durable record past `lsn` (nil: the journal
        /// closed, or cancellation); past a truncation that released the
        /// follower's next record, the caller refreshes (the reader
        /// rebuilds) and follows on. The follower starts at the journal's
        /// end when the reader is ahead of it (a snapshot newer than what
        /// this process has read of the log), and past `waitPast` after a
        /// refresh that could not move.
        private mutating func nextDurable(after lsn: LSN) async throws -> LSN? {
            do throws(JournalError) {
                var start = Swift.min(Swift.max(lsn + 1, journal.oldestLSN), journal.nextLSN)
                if let past = waitPast {
                    start = Swift.max(start, past + 1)
                    waitPast = nil
                }
                if follower == nil || (follower?.nextLSN ?? 0) < start {
                    follower?.cancel()
                    follower = try journal.follower(from: start)
                }
                guard let follower else { return nil }
                while let record = try await follower.next() {
                    if record.lsn >= start && record.lsn > lsn { return record.lsn }
                }
                // The journal closed: with the reader, or replaced by a
                // refresh whose journal the writer had overtaken.
                guard let current = reader.currentJournal, current !== journal else { return nil }
                journal = current
                self.follower = nil
                return lsn + 1
            } catch .lsnOutOfRange {
                // Released under the follower: a refresh rebuilds the reader.
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
