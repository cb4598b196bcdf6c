import Synchronization

// Trim: handing the physical memory of free pages back to the kernel.

extension PagePool {
    /// Gives the physical memory of every free-listed page back to the
    /// kernel. Pages stay in the pool and read as zeros.
    ///
    /// Safe to call concurrently with anything; a writer that needs a page
    /// while trim holds the free pages waits for it.
    /// - Complexity: O(free pages) system calls.
    public func trim() {
        for shard in 0 ..< Self.shardCount {
            let h = head(shard)
            var current = h.pointee.load(ordering: .acquiring)
            // Detach the whole shard with one compare-and-swap.
            while current & 0xFFFF_FFFF != 0 {
                let detached = (current >> 32 &+ 1) << 32
                let (exchanged, original) = h.pointee.compareExchange(
                    expected: current, desired: detached, ordering: .acquiringAndReleasing)
                if exchanged { break }
                current = original
            }
            let first = UInt32(truncatingIfNeeded: current)
            guard first != 0 else { continue }
            var page = first - 1
            var tail = page
            while true {
                VirtualMemory.discard(address(of: page), byteCount: pageBytes)
                coldFlags[Int(page)] = 1
                tail = page
                let link = next[Int(page)].load(ordering: .relaxed)
                if link == 0 { break }
                page = link - 1
            }
            push(chainHead: first - 1, chainTail: tail, shard: shard)
        }
    }
}
