// Little-endian loads and stores at byte offsets: the one codec of every
// on-disk format of the project (the journal's, the page store's, the
// B+tree's), whose integers are all little-endian at fixed offsets. Each
// access is bounds-checked even in release builds: decoders read bytes that
// came from disk.

extension UnsafeRawBufferPointer {
    @inlinable @inline(__always)
    public func le64(_ offset: Int) -> UInt64 {
        precondition(offset >= 0 && offset + 8 <= count, "read past buffer")
        return UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    @inlinable @inline(__always)
    public func le32(_ offset: Int) -> UInt32 {
        precondition(offset >= 0 && offset + 4 <= count, "read past buffer")
        return UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inlinable @inline(__always)
    public func le16(_ offset: Int) -> UInt16 {
        precondition(offset >= 0 && offset + 2 <= count, "read past buffer")
        return UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inlinable @inline(__always)
    public func u8(_ offset: Int) -> UInt8 {
        precondition(offset >= 0 && offset < count, "read past buffer")
        return self[offset]
    }
    /// The sub-buffer `[offset, offset + length)`, which must lie inside.
    @inlinable @inline(__always)
    public func slice(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && length >= 0 && offset + length <= count, "slice out of range")
        return UnsafeRawBufferPointer(rebasing: self[offset..<(offset + length)])
    }
    /// True when every byte of the buffer is zero.
    @inlinable
    public func isAllZero() -> Bool {
        var i = 0
        while i + 8 <= count {
            if loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < count {
            if self[i] != 0 { return false }
            i += 1
        }
        return true
    }
}

extension UnsafeMutableRawBufferPointer {
    @inlinable @inline(__always)
    public func storeLE64(_ value: UInt64, at offset: Int) {
        precondition(offset >= 0 && offset + 8 <= count, "write past buffer")
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }
    @inlinable @inline(__always)
    public func storeLE32(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= count, "write past buffer")
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }
    @inlinable @inline(__always)
    public func storeLE16(_ value: UInt16, at offset: Int) {
        precondition(offset >= 0 && offset + 2 <= count, "write past buffer")
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self)
    }
}
