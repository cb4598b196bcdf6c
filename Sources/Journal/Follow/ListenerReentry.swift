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
//
// `close()` cannot throw. From inside a handler it marks the journal
// closing, as any close does, and leaves the rest (joining the writer's and
// the tail's threads, ending the listeners) to a thread of its own, started
// once the handler's delivery is over (an appender writing inline is not a
// thread the close joins). For a writer in the manual runtime, the pump
// that ran the handler finishes the close. A later `close()` from outside a
// handler finishes a close left unfinished, or waits for the thread
// finishing it.

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
    /// journal's listeners, and restores the mark it had. A close a handler
    /// began in `body` is handed on once the delivery is over.
    func deliveringToListener<R>(_ body: () throws -> R) rethrows -> R {
        let previous = cjournal_listening_journal()
        cjournal_set_listening_journal(listeningMark)
        defer {
            cjournal_set_listening_journal(previous)
            if previous != listeningMark && closeToHandOn.load(ordering: .acquiring) { handOnDeferredClose() }
        }
        return try body()
    }

    /// `close()` from inside a handler, once the journal is closing: the
    /// rest is handed on when the handler's delivery is over.
    func deferCloseAfterHandler() {
        lock.withLock {
            assert(deferredClose == .none, "a journal begins closing once")
            deferredClose = .pending
        }
        closeToHandOn.store(true, ordering: .releasing)
    }

    /// After the delivery whose handler closed the journal: the rest of the
    /// close runs at the end of the pump (a writer in the manual runtime,
    /// whose pumping thread owns its write queue) or on a thread of its own
    /// (every other journal, those open for reading or following included),
    /// which never starts before the handler has returned.
    private func handOnDeferredClose() {
        guard closeToHandOn.exchange(false, ordering: .acquiringAndReleasing) else { return }
        if options.runtime == .manual && !isReadOnly { return }
        do {
            try JoinableThread.start(name: "journal-close") { [self] in
                if takeDeferredClose(waiting: false) { finishClosing() }
            }.detach()
        } catch {
            logger.error("close() from a listener's handler: no thread to finish it; the next close() will", metadata: ["error": "\(error)"])
        }
    }

    /// Takes the close a handler began, if nobody took it yet: the caller
    /// finishes it. Otherwise, `waiting`, waits until the thread that took
    /// it has finished it.
    func takeDeferredClose(waiting: Bool) -> Bool {
        lock.withLock {
            if deferredClose == .pending {
                deferredClose = .finishing
                return true
            }
            while waiting && deferredClose == .finishing { deferredCloseDone.wait() }
            return false
        }
    }

    /// At the end of every close: a deferred one is finished.
    func endDeferredClose() {
        lock.withLock {
            guard deferredClose == .finishing else { return }
            deferredClose = .none
            deferredCloseDone.broadcast()
        }
    }
}

/// A close begun inside a listener's handler (`Journal.deferredClose`).
enum DeferredClose {
    case none
    /// Begun; its rest is to be run by whoever takes it first.
    case pending
    /// A thread runs its rest.
    case finishing
}
