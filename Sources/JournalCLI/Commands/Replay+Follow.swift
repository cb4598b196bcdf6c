import Journal
import JournalCLISupport
import JournalPrimitives

#if canImport(Glibc)
import Glibc
#endif

// `replay --follow`: the records as they become durable, like `tail -f`,
// until SIGINT or SIGTERM (or a reader that closes the pipe).

extension Replay {
    /// Writes one record in the chosen format.
    static func write(lsn: LSN, payload: UnsafeRawBufferPointer, binary: Bool, json: Bool, out: OutputBuffer, scratch: inout [UInt8]) {
        scratch.removeAll(keepingCapacity: true)
        if binary {
            let n = UInt32(payload.count)
            out.write(bytes: [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)])
            out.write(payload)
        } else if json {
            out.write("{\"lsn\": ")
            out.write(decimal: lsn)
            out.write(", \"bytes\": ")
            out.write(decimal: UInt64(payload.count))
            out.write(", \"payload_base64\": \"")
            Base64.encode(payload, into: &scratch)
            out.write(bytes: scratch)
            out.write("\"}\n")
        } else {
            out.write(decimal: lsn)
            out.write(byte: UInt8(ascii: "\t"))
            PayloadText.escape(payload, into: &scratch)
            scratch.append(UInt8(ascii: "\n"))
            out.write(bytes: scratch)
        }
    }

    /// A thread that cancels the follower on the first of `signals`; `stop`
    /// ends it (with one of them, sent to it alone) and joins it, so that no
    /// thread is left behind however the follow ended.
    final class SignalWatcher: Sendable {
        private struct State { var stopping = false; var thread: pthread_t? }
        private let state: LockedValue<State>
        private let thread: JoinableThread

        init(_ signals: sigset_t, cancelling follower: JournalFollower) {
            let state = LockedValue(State())
            self.state = state
            thread = JoinableThread(name: "replay-signals") {
                let stopping = state.withLock { s in
                    s.thread = pthread_self()
                    return s.stopping
                }
                guard !stopping else { return }
                var mask = signals
                var received: Int32 = 0
                sigwait(&mask, &received)
                follower.cancel()
            }
        }

        func stop() {
            let running = state.withLock { s in
                s.stopping = true
                return s.thread
            }
            if let running { pthread_kill(running, SIGTERM) }
            thread.join()
        }
    }

    /// Follows the journal: prints every record from `--from` (default: the
    /// oldest) as it becomes durable, flushing whenever it has printed
    /// everything durable so far. Exits 0 on SIGINT, SIGTERM or a closed
    /// standard output (EPIPE).
    func runFollow() throws {
        // Blocked before any thread starts, so that every thread inherits
        // the mask and only the watcher below takes the signal.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)
        let journal: Journal
        let follower: JournalFollower
        do {
            journal = try Journal.openForFollowing(
                storage: try location.storage(), recovery: recoveryOption.recovery, untilWriterCloses: untilWriterCloses)
        } catch {
            throw Self.cliError(error)
        }
        do {
            if let position {
                follower = try journal.follower(resuming: journal.position(named: position))
            } else {
                follower = try journal.follower(from: from ?? journal.oldestLSN)
            }
        } catch {
            // Its tail thread runs until the journal closes.
            journal.close()
            throw Self.cliError(error)
        }
        defer { journal.close() }
        let watcher = SignalWatcher(signals, cancelling: follower)
        defer { watcher.stop() }
        let out = OutputBuffer(fd: 1)
        var scratch: [UInt8] = []
        let binary = binary
        let json = json
        do {
            try follower.forEachBlocking { lsn, payload in
                Self.write(lsn: lsn, payload: payload, binary: binary, json: json, out: out, scratch: &scratch)
                // The last record durable so far: the end of a batch.
                if lsn >= journal.durableLSN {
                    out.flush()
                    // Printed for good: a restart resumes after it.
                    if out.failure == nil { try follower.readerPosition?.advance(to: lsn + 1) }
                }
                return out.failure == nil
            }
        } catch {
            out.flush()
            throw CLIError.from(error) ?? CLIError(.ioError, "\(error)")
        }
        out.flush()
        if let e = out.failure, e != EPIPE { throw CLIError(.ioError, "writing standard output: errno \(e)") }
    }

    private static func cliError(_ error: any Error) -> any Error {
        if let error = error as? CLIError { return error }
        return CLIError.from(error) ?? CLIError(.ioError, "\(error)")
    }
}
