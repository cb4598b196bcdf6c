// Byte buffers of the page store's formats: aligned I/O buffers and magic
// numbers. Integers go through the shared little-endian codec
// (JournalPrimitives).

#if canImport(Glibc)
import Glibc
#endif

/// Memory aligned for direct I/O, owned by one object.
final class AlignedBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(count: Int, alignment: Int) {
        bytes = .allocate(byteCount: count, alignment: max(alignment, 16))
        // memset rather than `initializeMemory(as:repeating:)`, which a debug
        // build runs one byte at a time: the tests (a debug build) allocate
        // one of these for every page they read.
        if let base = bytes.baseAddress { memset(base, 0, count) }
    }

    deinit { bytes.deallocate() }
}

/// Four ASCII characters as a little-endian magic number.
func magic32(_ text: StaticString) -> UInt32 {
    precondition(text.utf8CodeUnitCount == 4)
    var value: UInt32 = 0
    for i in 0..<4 { value |= UInt32(text.utf8Start[i]) << (8 * UInt32(i)) }
    return value
}

/// Eight ASCII characters as a little-endian magic number.
func magic64(_ text: StaticString) -> UInt64 {
    precondition(text.utf8CodeUnitCount == 8)
    var value: UInt64 = 0
    for i in 0..<8 { value |= UInt64(text.utf8Start[i]) << (8 * UInt64(i)) }
    return value
}
