// An array's bytes for a body that throws a typed error: the standard
// library's `withUnsafeBytes` rethrows `any Error`, which would erase it.

/// Runs `body` over `array`'s bytes and returns its result, keeping the
/// typed error.
@inlinable @inline(__always)
public func withBytes<R, E: Error>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    var result: Result<R, E>?
    array.withUnsafeBytes { p in
        do throws(E) { result = .success(try body(p)) } catch { result = .failure(error) }
    }
    guard let result else { preconditionFailure("withUnsafeBytes runs its body") }
    return try result.get()
}

/// Runs `body` over `array`'s bytes, mutable, and returns its result,
/// keeping the typed error.
@inlinable @inline(__always)
public func withMutableBytes<R, E: Error>(_ array: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
    var result: Result<R, E>?
    array.withUnsafeMutableBytes { p in
        do throws(E) { result = .success(try body(p)) } catch { result = .failure(error) }
    }
    guard let result else { preconditionFailure("withUnsafeMutableBytes runs its body") }
    return try result.get()
}
