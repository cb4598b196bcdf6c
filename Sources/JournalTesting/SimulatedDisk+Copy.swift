extension SimulatedDisk {
    /// A copy of this powered-off disk: the same durable image, boot, I/O
    /// count and history, so that `reboot()` on the copy continues exactly as
    /// it would on the original. Lets an explorer try many cuts during
    /// recovery from one post-crash image without rerunning the workload.
    public func copy() -> SimulatedDisk {
        let copied = state.withLock { s -> DiskState in
            precondition(s.poweredOff, "only a powered-off disk is copied: nothing is in flight")
            assert(s.inFlight.isEmpty && s.queues.isEmpty)
            var c = DiskState(seed: s.seed, faults: s.faults)
            c.boot = s.boot
            c.poweredOff = true
            c.ioCount = s.ioCount
            c.nextInodeID = s.nextInodeID
            for name in s.directory.keys.sorted() {
                guard let old = s.directory[name] else { continue }
                c.directory[name] = Inode(id: old.id, size: old.size, contents: UnsafeRawBufferPointer(old.durableBytes))
            }
            c.nextLockID = s.nextLockID
            c.nextWriteSequence = s.nextWriteSequence
            c.nextQueueID = s.nextQueueID
            c.readRandom = s.readRandom
            c.durableWriteRandom = s.durableWriteRandom
            c.bitFlipRandom = s.bitFlipRandom
            c.powerCuts = s.powerCuts
            c.violations = s.violations
            c.misdirectedWrites = s.misdirectedWrites
            return c
        }
        return SimulatedDisk(seed: seed, ioAlignment: ioAlignment, state: copied)
    }

    /// Queued writes the disk sent elsewhere than their target (and reported
    /// as successful), over its life.
    public var misdirectedWriteCount: Int { state.withLock { $0.misdirectedWrites } }
}
