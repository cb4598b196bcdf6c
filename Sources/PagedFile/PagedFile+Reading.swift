import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Reading: R1-R5 of the protocol described at the top of PagedFile.swift.

extension PagedFile {
    // MARK: Read

    /// Copies bytes at `offset` into `buffer`, stopping at end of file.
    ///
    /// Lock-free: never waits for writers, truncation or close. Holes read as
    /// zeros. A read concurrent with a write or truncation of the same range
    /// sees each byte before or after that operation.
    ///
    /// - Returns: the number of bytes copied: `min(buffer.count, length - offset)`,
    ///   or 0 at or past end of file.
    /// - Throws: `invalidArgument` for a negative offset, `closed` after `close()`.
    /// - Complexity: O(buffer.count), one memcpy per run of adjacent pages.
    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(PagedFileError) -> Int {
        guard offset >= 0 else { throw .invalidArgument("offset is negative") }
        let token = epochs.enter()                                          // R1
        defer { epochs.exit(token) }                                        // R5
        if word(Self.closedSlot).pointee.load(ordering: .sequentiallyConsistent) != 0 {  // R2
            throw .closed
        }
        let fileLength = word(Self.lengthSlot).pointee.load(ordering: .acquiring)         // R3
        guard offset < fileLength, buffer.count > 0, let destination = buffer.baseAddress else { return 0 }
        let count = min(buffer.count, fileLength - offset)
        assert(count > 0 && offset + count <= lengthMax)
        copyOut(from: offset, count: count, to: destination)                // R4
        return count
    }

    @inline(__always)
    private func copyOut(from offset: Int, count: Int, to destination: UnsafeMutableRawPointer) {
        var done = 0
        // The pending run: `runSource == nil` with runBytes > 0 is a run of holes.
        var runSource: UnsafeMutableRawPointer?
        var runStart = 0
        var runBytes = 0
        while done < count {
            let position = offset + done
            let inPage = position & pageMask
            let chunk = min(pageBytes - inPage, count - done)
            let source = lookup.page(at: position &>> pageShift).map { addressing.address(of: $0) + inPage }
            #if DEBUG
            if done == 0, let hook = readHookAfterSlotLoad { hook() }
            #endif
            let extends: Bool
            if runBytes == 0 {
                extends = false
            } else if let runSource, let source {
                extends = runSource + runBytes == source
            } else {
                extends = runSource == nil && source == nil
            }
            if extends {
                runBytes += chunk
            } else {
                flushRead(runSource, bytes: runBytes, to: destination + runStart)
                runSource = source
                runStart = done
                runBytes = chunk
            }
            done += chunk
        }
        flushRead(runSource, bytes: runBytes, to: destination + runStart)
    }

    @inline(__always)
    private func flushRead(_ source: UnsafeMutableRawPointer?, bytes: Int, to destination: UnsafeMutableRawPointer) {
        guard bytes > 0 else { return }
        if let source {
            memcpy(destination, source, bytes)
        } else {
            memset(destination, 0, bytes)
        }
    }
}
