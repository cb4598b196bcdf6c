import JournalPrimitives
import JournalRaft

/// The real clock, randomness and network of a node's raft I/O.
final class NodeEnvironment: RaftEnvironment {
    var generator: SplitMix64
    /// Set once the transport exists; messages before then are dropped.
    var transport: RaftTransport?

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    var nowMilliseconds: UInt64 { monotonicNanos() / 1_000_000 }

    func random(min: Int32, max: Int32) -> Int32 {
        let span = UInt64(Int64(max) - Int64(min) + 1)
        return Int32(Int64(min) + Int64(generator.next() % span))
    }

    func send(from: UInt64, to: UInt64, bytes: [UInt8]) {
        transport?.send(to: to, bytes: bytes)
    }
}
