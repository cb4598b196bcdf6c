import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A child's output, collected by a thread of ours so the pipe never fills.
///
/// The thread stops at end of file, or when `stop` is signalled: then it
/// reads what is left in the pipe (the child is dead by then) and returns.
final class OutputCollector: @unchecked Sendable {
    private let fd: Int32
    private let stop: StopSignal
    private let condition = NSCondition()
    private let done = DispatchSemaphore(value: 0)
    // Guarded by `condition`.
    private var bytes: [UInt8] = []
    private var newlines = 0
    private var ended = false

    /// Takes ownership of `fd` (non-blocking, close-on-exec).
    init(fd: Int32, stop: StopSignal) {
        self.fd = fd
        self.stop = stop
        let thread = Thread { [self] in
            self.run()
            self.done.signal()
        }
        thread.name = "kill-test-reader"
        thread.start()
    }

    private func run() {
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var draining = false
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                append(buffer[0..<n])
                continue
            }
            if n == 0 { break }  // end of file
            if errno == EINTR { continue }
            guard errno == EAGAIN else { break }
            if draining { break }  // stopped, and the pipe is empty
            // Nothing to read: wait for data or for the stop signal.
            let which = stop.wait(readable: fd)
            if which == .stopped { draining = true }
        }
        condition.withLock {
            ended = true
            condition.broadcast()
        }
    }

    private func append(_ chunk: ArraySlice<UInt8>) {
        condition.withLock {
            bytes.append(contentsOf: chunk)
            newlines += chunk.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            condition.broadcast()
        }
    }

    /// Blocks until `count` complete lines have arrived or the output ended.
    func waitForLines(_ count: Int) {
        condition.withLock {
            while newlines < count && !ended { condition.wait() }
        }
    }

    /// Waits for the thread to finish and returns everything read.
    func finish() -> [UInt8] {
        done.wait()
        return condition.withLock { bytes }
    }
}

/// Writes a child's input from a thread of ours, in chunks, until done, the
/// pipe breaks (the child died) or `stop` is signalled. Closes the pipe at
/// the end, so the child sees end of file.
final class InputFeeder: @unchecked Sendable {
    private let fd: Int32
    private let stop: StopSignal
    private let chunks: [[UInt8]]
    private let done = DispatchSemaphore(value: 0)
    private var wroteAll = false  // written by the thread before `done`

    /// Takes ownership of `fd` (non-blocking, close-on-exec).
    init(fd: Int32, chunks: [[UInt8]], stop: StopSignal) {
        self.fd = fd
        self.stop = stop
        self.chunks = chunks
        let thread = Thread { [self] in
            self.wroteAll = self.run()
            close(self.fd)
            self.done.signal()
        }
        thread.name = "kill-test-feeder"
        thread.start()
    }

    private func run() -> Bool {
        for chunk in chunks {
            var offset = 0
            while offset < chunk.count {
                let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n > 0 {
                    offset += n
                    continue
                }
                if n < 0 && errno == EINTR { continue }
                guard n < 0 && errno == EAGAIN else { return false }  // EPIPE: the child is gone
                if stop.wait(writable: fd) == .stopped { return false }
            }
        }
        return true
    }

    /// Waits for the thread; true when every chunk was written.
    func finish() -> Bool {
        done.wait()
        return wroteAll
    }
}

/// A one-way signal the helper threads poll beside their pipe.
final class StopSignal: @unchecked Sendable {
    enum Event { case ready, stopped }
    private let readEnd: Int32
    private let writeEnd: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ChildError.system("pipe", errno) }
        readEnd = fds[0]
        writeEnd = fds[1]
        setCloseOnExec(readEnd)
        setCloseOnExec(writeEnd)
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    func signal() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    func wait(readable fd: Int32) -> Event { wait(fd, Int16(POLLIN)) }
    func wait(writable fd: Int32) -> Event { wait(fd, Int16(POLLOUT)) }

    private func wait(_ fd: Int32, _ events: Int16) -> Event {
        var fds = [pollfd(fd: fd, events: events, revents: 0), pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)]
        while poll(&fds, 2, -1) < 0 && errno == EINTR {}
        return fds[1].revents != 0 ? .stopped : .ready
    }
}

enum ChildError: Error, CustomStringConvertible {
    case system(String, Int32)
    case missingExecutable

    var description: String {
        switch self {
        case .system(let call, let e): "\(call): \(String(cString: strerror(e)))"
        case .missingExecutable: "journalctl-swift not found next to the test bundle; build it (swift build) or set JOURNALCTL_SWIFT"
        }
    }
}

/// `fd` duplicated as a non-blocking, close-on-exec descriptor we own.
func ownedNonBlockingCopy(of fd: Int32) throws -> Int32 {
    let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
    guard copy >= 0 else { throw ChildError.system("fcntl F_DUPFD_CLOEXEC", errno) }
    guard fcntl(copy, F_SETFL, fcntl(copy, F_GETFL) | O_NONBLOCK) == 0 else { throw ChildError.system("fcntl O_NONBLOCK", errno) }
    return copy
}

/// Marks `fd` close-on-exec, so no child (ours or another test's) inherits it.
func setCloseOnExec(_ fd: Int32) {
    _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
}
