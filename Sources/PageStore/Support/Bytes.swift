// Little-endian fields in raw buffers: every integer of the page store's
// formats is little-endian at a fixed offset.

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        assert(offset >= 0 && offset + MemoryLayout<T>.size <= count, "field inside the buffer")
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func loadLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        assert(offset >= 0 && offset + MemoryLayout<T>.size <= count, "field inside the buffer")
        return T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

@inline(__always)
func roundUp(_ value: Int, _ multiple: Int) -> Int {
    assert(multiple > 0)
    return (value + multiple - 1) / multiple * multiple
}

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
