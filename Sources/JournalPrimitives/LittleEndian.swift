// Little-endian loads and stores at byte offsets: the one codec of every
// on-disk format of the project (the journal's, the page store's, the
// B+tree's), whose integers are all little-endian at fixed offsets. Each
// access is bounds-checked even in release builds: decoders read bytes that
// came from disk.

extension UnsafeRawBufferPointer {
    /// The little-endian integer of `T`'s width at `offset`, which must lie
    /// inside: the one bounds-checked load behind `le64`, `le32` and `le16`.
    @inlinable @inline(__always)
    func littleEndian<T: FixedWidthInteger>(at offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count, "read past buffer")
        return T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
    @inlinable @inline(__always) public func le64(_ offset: Int) -> UInt64 { littleEndian(at: offset) }
    @inlinable @inline(__always) public func le32(_ offset: Int) -> UInt32 { littleEndian(at: offset) }
    @inlinable @inline(__always) public func le16(_ offset: Int) -> UInt16 { littleEndian(at: offset) }
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
    /// Stores `value` little-endian at `offset`, which must lie inside: the
    /// one bounds-checked store behind `storeLE64`, `storeLE32` and `storeLE16`.
    @inlinable @inline(__always)
    func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count, "write past buffer")
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }
    @inlinable @inline(__always) public func storeLE64(_ value: UInt64, at offset: Int) { storeLittleEndian(value, at: offset) }
    @inlinable @inline(__always) public func storeLE32(_ value: UInt32, at offset: Int) { storeLittleEndian(value, at: offset) }
    @inlinable @inline(__always) public func storeLE16(_ value: UInt16, at offset: Int) { storeLittleEndian(value, at: offset) }
}
