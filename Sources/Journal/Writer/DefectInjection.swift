import JournalPrimitives

// Deliberate defects (`JournalDefects`), for proving that the crash tests
// catch what they claim to. All of them live here: the writer calls these
// hooks through `Journal.defects`, which is nil unless a test switched a
// defect on, so placement, sealing, chaining and completion carry no
// defect logic of their own and their assertions hold unconditionally.

final class DefectInjector {
    let defects: JournalDefects

    /// `rewriteAcknowledgedBlocks`: the length of the last sealed batch's
    /// final, partial block, which the next batch starts with. Guarded by
    /// the journal's lock.
    private var carriedBytes = 0
    /// `rewriteAcknowledgedBlocks`: the last chained batch's final, partial
    /// block. Owned by the thread that chains (see "Who chains" in Journal.swift).
    private var carriedBlock: [UInt8] = []

    init(_ defects: JournalDefects) {
        assert(!defects.isEmpty, "a journal without defects has no injector")
        self.defects = defects
    }

    private var rewritesBlocks: Bool { defects.contains(.rewriteAcknowledgedBlocks) }

    /// A batch was sealed; returns where the next batch starts. Under
    /// `rewriteAcknowledgedBlocks`, inside its last block. Lock held.
    func sealedLocked(_ batch: Batch, blockBytes: Int, nextOffset: Int) -> Int {
        guard rewritesBlocks, batch.usedBytes % blockBytes != 0 else { return nextOffset }
        let partial = roundDown(batch.usedBytes, blockBytes)
        carriedBytes = batch.usedBytes - partial
        return batch.fileOffset + partial
    }

    /// A batch starts in the active segment: under
    /// `rewriteAcknowledgedBlocks` it begins with the bytes it rewrites
    /// (copied in when it is chained). Lock held.
    func startingBatchLocked(_ batch: Batch) {
        guard carriedBytes > 0 else { return }
        batch.carriedBytes = carriedBytes
        batch.usedBytes = carriedBytes
        carriedBytes = 0
    }

    /// A new segment was activated: nothing carries over into it. Lock held.
    func segmentActivatedLocked() {
        carriedBytes = 0
    }

    /// Before chaining: the previous batch's partial last block, rewritten.
    func willChain(_ batch: Batch) {
        guard batch.carriedBytes > 0 else { return }
        assert(carriedBlock.count == batch.carriedBytes, "the carried block comes from the batch chained just before")
        carriedBlock.withUnsafeBytes { carried in
            guard let source = carried.baseAddress, let target = batch.buffer.baseAddress else { return }
            target.copyMemory(from: source, byteCount: carried.count)
        }
    }

    /// After chaining: keeps the batch's partial last block for the next.
    func chained(_ batch: Batch, blockBytes: Int) {
        guard rewritesBlocks, batch.usedBytes % blockBytes != 0 else { return }
        let partial = roundDown(batch.usedBytes, blockBytes)
        carriedBlock = Array(UnsafeRawBufferPointer(batch.buffer).slice(partial, batch.usedBytes - partial))
    }

    /// A batch's write was submitted (or is about to be written inline):
    /// under `acknowledgeBeforeDurable`, its appenders are released now.
    func submitted(_ batch: Batch, to journal: Journal) {
        guard defects.contains(.acknowledgeBeforeDurable) else { return }
        journal.lock.lock()
        let ready = journal.publishDurableLocked(batch.lastLSN)
        journal.lock.unlock()
        ready.wake(journal.followers)
    }
}
