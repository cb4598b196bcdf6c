import JournalStorage

extension Journal {
    /// Completes the headers of a batch about to be submitted: writes the
    /// segment header it starts with, if any, and chains its fragments to
    /// the previous batch's. Called in submission order, by the I/O thread
    /// without the lock or by an inline writer with it (see "Inline writes"
    /// at the top of Journal.swift): no appender writes into the batch any
    /// more (no copy is pending) and the disk does not read it yet.
    func chain(_ batch: Batch, _ segment: Segment, lockHeld: Bool) {
        assert(batch.state == .inFlight && batch.pendingCopies == 0, "only a batch moved in flight is chained")
        defects?.willChain(batch)
        if var header = batch.segmentHeader {
            assert(batch.fileOffset == 0 && batch.carriedBytes == 0)
            header.previousCRC = chainedCRC
            chainedCRC = header.encode(into: batch.buffer)
            if lockHeld { segment.header = header } else { lock.withLock { segment.header = header } }
        }
        let encoder = RecordEncoder(layout: layout, seed: batch.seed, epoch: epoch)
        let (crc, fragments) = encoder.chain(
            batch.buffer, base: batch.fileOffset, from: batch.chainStart, to: batch.fileOffset + batch.usedBytes,
            previousCRC: chainedCRC)
        assert(fragments >= batch.recordCount, "every record has a fragment")
        chainedCRC = crc
        defects?.chained(batch, blockBytes: blockBytes)
    }
}
