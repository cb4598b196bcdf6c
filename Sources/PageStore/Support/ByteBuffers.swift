// Byte buffers of the page store's formats: aligned I/O buffers, magic
// numbers, and array access that keeps typed errors. Integers go through
// the shared little-endian codec (JournalPrimitives).

/// Memory aligned for direct I/O, owned by one object.
final class AlignedBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(count: Int, alignment: Int) {
        bytes = .allocate(byteCount: count, alignment: max(alignment, 16))
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
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

/// `withUnsafeMutableBytes` keeping a typed error.
func withMutableBytes<E: Error>(_ array: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(E) -> Void) throws(E) {
    var failure: E?
    array.withUnsafeMutableBytes { b in
        do throws(E) { try body(b) } catch { failure = error }
    }
    if let failure { throw failure }
}

/// `withUnsafeBytes` keeping a typed error.
func withBytes<E: Error>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
    var failure: E?
    array.withUnsafeBytes { b in
        do throws(E) { try body(b) } catch { failure = error }
    }
    if let failure { throw failure }
}
