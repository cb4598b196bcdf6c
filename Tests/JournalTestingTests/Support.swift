import JournalStorage
import JournalTesting

/// Page-aligned scratch memory for writes; freed when released.
final class AlignedBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(count: Int, fill: UInt8 = 0) {
        bytes = .allocate(byteCount: count, alignment: 4096)
        bytes.initializeMemory(as: UInt8.self, repeating: fill)
    }

    deinit { bytes.deallocate() }

    var raw: UnsafeRawBufferPointer { UnsafeRawBufferPointer(bytes) }
    var pointer: UnsafeRawPointer { UnsafeRawPointer(bytes.baseAddress!) }
}

/// A byte that names a write and one of its sectors, never 0 (the old
/// contents are zeros) and different for neighbouring writes.
func pattern(write: Int, sector: Int) -> UInt8 {
    UInt8(1 + (write * 7 + sector * 3) % 251)
}

/// Submits to `queue` and completes everything, polling; returns the
/// completions in the order they came.
@discardableResult
func drain(_ queue: any StorageWriteQueue) throws -> [StorageCompletion] {
    var completions: [StorageCompletion] = []
    var polls = 0
    while queue.inFlightCount > 0 {
        try queue.pollCompletions { completions.append($0) }
        polls += 1
        precondition(polls < 10_000, "the queue makes progress")
    }
    return completions
}

extension Array where Element == UInt8 {
    /// The bytes of `sector` (512 bytes) starting at byte `offset`.
    func sector(at offset: Int) -> ArraySlice<UInt8> { self[offset..<(offset + SimulatedDisk.sectorBytes)] }
}
