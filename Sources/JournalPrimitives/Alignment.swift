// Rounding offsets and sizes to alignments: block boundaries of direct I/O,
// fragment alignment in segments, page boundaries of pools.

/// `value` rounded up to a multiple of `alignment`, a power of two (a mask,
/// not a division: the append path rounds every record).
@inlinable @inline(__always)
public func roundUp(_ value: Int, _ alignment: Int) -> Int {
    assert(alignment > 0 && alignment & (alignment - 1) == 0, "alignment is a power of two")
    return (value + alignment - 1) & ~(alignment - 1)
}

/// `value` rounded down to a multiple of `alignment`, a power of two.
@inlinable @inline(__always)
public func roundDown(_ value: Int, _ alignment: Int) -> Int {
    assert(alignment > 0 && alignment & (alignment - 1) == 0, "alignment is a power of two")
    return value & ~(alignment - 1)
}

/// `value` rounded up to a multiple of `multiple`, any positive number (for
/// sizes a caller configures, checked for a power of two only later).
@inlinable
public func roundUp(_ value: Int, toMultipleOf multiple: Int) -> Int {
    precondition(multiple > 0, "the multiple is positive")
    return (value + multiple - 1) / multiple * multiple
}
