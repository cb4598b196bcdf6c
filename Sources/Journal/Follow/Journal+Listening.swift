import JournalPrimitives

extension Journal {
    /// Calls `onRecord` with every durable record from `lsn` on, in order,
    /// once each, on the thread that made the record durable, right after
    /// it published the durable LSN: no thread has to wake up between a
    /// record's durability and its delivery, as a follower's must.
    ///
    /// The records durable at the call are delivered first, on the calling
    /// thread (or by a publication that comes meanwhile). Then each
    /// publication delivers its records: in the writer's process on the
    /// thread that completed the write (the journal's I/O thread, or an
    /// appender writing inline), in a journal open for following on its
    /// tail thread, as soon as it read them. Delivery is zero-copy: the
    /// bytes are the segment's mapping, valid only inside `onRecord`, and
    /// their checksums were verified, as in every read.
    ///
    /// `onRecord` runs on the writer's path, before the appenders of those
    /// records are woken: keep it short and never block in it. For work of
    /// any length, use a follower (`follower(from:)`, `follow(from:)`).
    /// The calls of this journal that wait for it would wait for the very
    /// thread running the handler: from inside `onRecord` or `onEnd` they
    /// throw `JournalError.invalidArgument` instead of waiting. They are
    /// `appendBlocking`, `waitUntilDurableBlocking`, `enqueue` when every
    /// batch buffer is busy, `truncate`, `catchUpWithWriter`, and a
    /// follower's blocking wait for records. `close()` from inside either
    /// handler returns at once with the journal closing, and finishes on a
    /// thread of its own after the handler returns. Reading the journal,
    /// `enqueue` that finds room, and calls on other journals are allowed.
    ///
    /// `onEnd` is called once, after the last `onRecord` call: with nil
    /// when the journal closes (after every record durable before the
    /// close) or the listener is cancelled, with the error that stopped it
    /// otherwise (`.lsnOutOfRange` when truncation released a record before
    /// it was delivered, `.corruption`).
    ///
    /// - Throws: `JournalError.lsnOutOfRange` if `lsn` is below `oldestLSN`
    ///   or above `nextLSN`, as `follower(from:)`.
    /// - Returns: the listener, to cancel it; the journal keeps it until it
    ///   ends.
    @discardableResult
    public func listen(
        from lsn: LSN, onRecord: @escaping @Sendable (LSN, UnsafeRawBufferPointer) -> Void,
        onEnd: @escaping @Sendable (JournalError?) -> Void = { _ in }
    ) throws(JournalError) -> JournalListener {
        try validateFollowStart(lsn)
        let listener = JournalListener(journal: self, from: lsn, onRecord: onRecord, onEnd: onEnd)
        followers.addListener(listener)
        // What was durable before the add: the hub's publications reach
        // the listener from now on.
        listener.published(durableLSN)
        return listener
    }
}
