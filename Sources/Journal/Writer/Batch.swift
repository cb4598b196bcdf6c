import JournalPrimitives
import JournalStorage

/// A batch: records that go to the disk in one durable write.
///
/// A batch covers `[fileOffset, fileOffset + paddedBytes)` of one segment;
/// `fileOffset` is a multiple of the block size, so a batch never shares a
/// block with bytes acknowledged earlier (journal-format.md, "Batches").
/// Guarded by the journal's lock, except `buffer` contents: an appender
/// writes the bytes it reserved, with or without the lock (`pendingCopies`
/// counts those still being written); the writer chains the sealed batch
/// once no copy is pending, then the kernel reads it while it is in flight.
final class Batch {
    enum State { case free, filling, sealed, inFlight }

    let buffer: UnsafeMutableRawBufferPointer
    /// Identifies the batch's write to the storage queue.
    let tag: UInt64
    var state: State = .free
    var segment: Segment?
    var fileOffset = 0
    /// Bytes encoded from the start of the buffer (segment header included).
    var usedBytes = 0
    /// The write length: `usedBytes` rounded up to the block size.
    var paddedBytes = 0
    var firstLSN: LSN = 0
    var lastLSN: LSN = 0
    var recordCount = 0
    var completed = false
    var submittedNanos: UInt64 = 0
    /// Written by an appender itself (an inline write), not through the
    /// I/O thread's queue.
    var inline = false
    /// Records reserved in the batch whose bytes an appender is still
    /// writing outside the lock. The batch is not chained or submitted
    /// before this is 0.
    var pendingCopies = 0
    /// Segment offset of the first record's first fragment: where chaining starts.
    var chainStart = 0
    /// The segment header the batch starts with (written when it is chained,
    /// as its `previousCRC` is known only then), or nil.
    var segmentHeader: SegmentHeader?
    /// Under the `rewriteAcknowledgedBlocks` defect: bytes at the start of
    /// the buffer that repeat the previous batch's last, partial block.
    var carriedBytes = 0
    /// The checksum seed of the segment's fragments.
    var seed: UInt32 = 0

    /// `buffer` is cut from the journal's `BatchArena`, which outlives the batch.
    init(tag: UInt64, buffer: UnsafeMutableRawBufferPointer) {
        self.buffer = buffer
        self.tag = tag
    }

    func start(segment: Segment, at offset: Int) {
        assert(state == .free || state == .filling)
        state = .filling
        self.segment = segment
        fileOffset = offset
        usedBytes = 0
        paddedBytes = 0
        firstLSN = 0
        lastLSN = 0
        recordCount = 0
        completed = false
        pendingCopies = 0
        chainStart = 0
        segmentHeader = nil
        carriedBytes = 0
    }

    func reset() {
        assert(pendingCopies == 0, "no appender writes into a free batch")
        state = .free
        inline = false
        segment = nil
        segmentHeader = nil
    }

    /// Zero-pads to the block boundary and fixes the write length.
    func seal(blockBytes: Int) {
        assert(state == .filling && recordCount > 0, "only a filling batch with records is sealed")
        paddedBytes = roundUp(usedBytes, blockBytes)
        assert(paddedBytes <= buffer.count)
        if paddedBytes > usedBytes {
            UnsafeMutableRawBufferPointer(rebasing: buffer[usedBytes..<paddedBytes]).initializeMemory(as: UInt8.self, repeating: 0)
        }
        state = .sealed
    }
}
