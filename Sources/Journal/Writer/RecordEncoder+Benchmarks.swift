// The record encoder, reachable from the hot-path microbenchmarks
// (Benchmarks/, `make bench-micro`) through the `Benchmarks` SPI. Not part
// of the journal's API: it may change with any commit.

/// Encodes records as the writer does, into a caller's buffer, with nothing
/// else of the journal around it.
///
/// The buffer stands for a segment: byte 0 is segment offset 0. Records are
/// fragmented at `pageBytes` pages and chained by checksum exactly as in a
/// batch (journal-format.md, "Fragments").
@_spi(Benchmarks)
public struct BenchmarkRecordEncoder: Sendable {
    let encoder: RecordEncoder

    /// An encoder for segments of `pageBytes` pages (a power of two in
    /// `JournalFormat.pageBytesRange`), with the fragment seed of a segment
    /// whose salt is `salt`, written in epoch `epoch`.
    public init(pageBytes: Int = JournalConfiguration().pageBytes, salt: UInt64 = 0x5EED_5A17, epoch: UInt32 = 1) {
        precondition(JournalFormat.pageBytesRange.contains(pageBytes) && pageBytes & (pageBytes - 1) == 0,
                     "page size is a power of two in JournalFormat.pageBytesRange")
        encoder = RecordEncoder(layout: FragmentLayout(pageBytes: pageBytes), seed: FragmentHeader.seed(salt: salt), epoch: epoch)
    }

    /// The segment offset just past a record of `payloadBytes` encoded at or
    /// after `offset`: the buffer must be at least this long.
    ///
    /// - Complexity: O(fragments).
    public func encodedEnd(payloadBytes: Int, at offset: Int) -> Int {
        encoder.layout.encodedEnd(payloadBytes: payloadBytes, at: offset)
    }

    /// Encodes `payload` as record `lsn` at or after segment offset `offset`
    /// (after a segment header: at least `JournalFormat.segmentHeaderBytes`),
    /// chained to `previousCRC`. Returns the offset just past the record and
    /// the checksum of its last fragment header.
    ///
    /// - Precondition: `lsn >= 1`; `buffer.count >= encodedEnd(payloadBytes: payload.count, at: offset)`.
    /// - Complexity: O(payload.count): one copy and one CRC32C pass.
    public func encode(
        _ payload: UnsafeRawBufferPointer, lsn: LSN, previousCRC: UInt32 = 0,
        into buffer: UnsafeMutableRawBufferPointer, at offset: Int
    ) -> (end: Int, lastCRC: UInt32) {
        precondition(lsn >= 1 && offset >= JournalFormat.segmentHeaderBytes)
        precondition(buffer.count >= encodedEnd(payloadBytes: payload.count, at: offset), "buffer too short for the record")
        return encoder.encode(payload, lsn: lsn, committedLSN: lsn - 1, previousCRC: previousCRC, into: buffer, base: 0, at: offset)
    }
}
