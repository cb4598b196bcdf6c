import CJournalConcurrency
import JournalPrimitives

// Calls from inside a listener's handler that would wait for the journal.
// A handler runs on the thread that publishes durability (the I/O thread, an
// appender writing inline, or the tail thread of a journal open for
// following), which holds up that journal's progress while it runs. A call
// from the handler that waits for the journal (a blocking append, a wait for
// durability, a truncation waiting for readers, a follower's blocking wait,
// a catch-up taking the tail's lock) could wait for its own thread forever.
// The delivering thread carries a thread-local mark naming the journal, and
// those calls throw `.invalidArgument` instead of waiting. The mark is set
// around each delivery (the handler calls of one publication, or the end
// handler) and restored after it, so a handler of one journal may still
// use another.

extension Journal {
    /// This journal's address, as the thread-local mark holds it.
    private var listeningMark: UInt { UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()) }

    /// Whether the calling thread is inside a handler of this journal's
    /// listeners (one thread-local load).
    var isInsideListener: Bool { cjournal_listening_journal() == listeningMark }

    /// Throws `.invalidArgument` naming `operation` when the calling thread
    /// is inside a handler of this journal's listeners.
    func refuseInsideListener(_ operation: String) throws(JournalError) {
        guard isInsideListener else { return }
        throw insideListenerError(operation)
    }

    /// The error of `operation` called from inside a listener's handler.
    func insideListenerError(_ operation: String) -> JournalError {
        .invalidArgument("\(operation) called from a listener's handler of this journal, whose thread the call would wait for")
    }

    /// Runs `body` with the calling thread marked as delivering to this
    /// journal's listeners, and restores the mark it had.
    func deliveringToListener<R>(_ body: () throws -> R) rethrows -> R {
        let previous = cjournal_listening_journal()
        cjournal_set_listening_journal(listeningMark)
        defer { cjournal_set_listening_journal(previous) }
        return try body()
    }
}
