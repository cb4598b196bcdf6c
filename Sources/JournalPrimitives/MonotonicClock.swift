#if canImport(Glibc)
public import Glibc
#endif

/// Nanoseconds of the monotonic clock (`CLOCK_MONOTONIC`): for durations
/// and deadlines, which the wall clock's steps would break. Inline: the
/// journal reads it on the append path.
@inlinable @inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Seconds of the monotonic clock, for reports of elapsed time.
@inlinable
public func monotonicSeconds() -> Double {
    Double(monotonicNanos()) / 1e9
}
