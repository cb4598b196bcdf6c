import JournalPrimitives

// Enqueueing with an inline write, for a layer above the journal whose
// caller waits for its record next (the page store's commit of a lone
// key-value put): the appenders' inline-write rules, without the append's
// wait, so that the layer can publish its commit before it waits.

/// Who calls: the inline-write rule that applies (`JournalOptions`).
public enum InlineWriter: Sendable, Equatable {
    /// A thread: writes inline whenever the journal is idle, with
    /// `inlineWrites` (as `appendBlocking`).
    case thread
    /// A task: with `inlineWritesFromTasks`, or while the device's recent
    /// writes were fast (as `append` from a task); its pool thread must
    /// not block for a slow write.
    case task
}

extension Journal {
    /// Adds a record as `enqueue(_:)` does and, when the journal is idle
    /// and `writer`'s rule allows, writes its batch from the calling thread
    /// before returning: the record is then durable on return, and neither
    /// the I/O thread nor the caller was woken for it. For a caller about
    /// to wait for the record; else the I/O thread writes it as usual.
    ///
    /// - Throws: as `enqueue(_:)`. A failed inline write poisons the
    ///   journal, as any failed write does: the caller's wait reports it.
    /// - Complexity: O(payload bytes), plus one durable write when inline.
    public func enqueue(_ payload: [UInt8], writingInlineFrom writer: InlineWriter) throws(JournalError) -> LSN {
        let policy = writer == .thread ? threadInlinePolicy : taskInlinePolicy
        return try withBytes(payload) { (p) throws(JournalError) -> LSN in try enqueue(p, inline: policy) }
    }
}
