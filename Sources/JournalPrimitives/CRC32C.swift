public import CJournalShims

/// CRC32C (Castagnoli), the checksum of every header and payload on disk.
///
/// Uses the SSE4.2 `crc32` instruction when the CPU has it. `update` continues
/// a running checksum: `CRC32C.update(CRC32C.checksum(a), b)` equals the
/// checksum of `a` followed by `b`.
public enum CRC32C {
    /// The checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        update(0, bytes)
    }

    /// Continues `crc` over `bytes`.
    @inlinable
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return cjournal_crc32c(crc, base, bytes.count)
    }

    /// Copies `bytes` to `destination` (which must not overlap them) and
    /// returns their checksum, reading them once: cheaper than a copy
    /// followed by a checksum.
    @inlinable
    public static func copy(_ bytes: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        return cjournal_crc32c_copy(0, destination, base, bytes.count)
    }

    /// The checksum of an array of bytes.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Whether the hardware instruction is in use.
    public static var isHardwareAccelerated: Bool { cjournal_crc32c_is_hardware() != 0 }

    /// The table-driven implementation, for tests that compare both paths.
    public static func portableUpdate(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return cjournal_crc32c_portable(crc, base, bytes.count)
    }
}
