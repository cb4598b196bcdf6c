import JournalStorage
import JournalPrimitives

/// One file's bytes: the durable image and the volatile view, each a stable
/// buffer of the file's fixed size (so a mapping's address stays valid).
///
/// Both buffers are written only under the disk's mutex; a mapping reads the
/// volatile one without it, as a real mapping reads the page cache.
final class Inode: @unchecked Sendable {
    let id: Int
    let size: Int
    let durable: UnsafeMutableRawBufferPointer
    let volatile: UnsafeMutableRawBufferPointer

    /// Allocation alignment of the buffers: a page, as mappings have.
    static let alignment = 4096

    /// A file of `size` bytes whose both images hold `contents` (zeros when
    /// nil).
    init(id: Int, size: Int, contents: UnsafeRawBufferPointer? = nil) {
        precondition(size >= 0)
        self.id = id
        self.size = size
        durable = .allocate(byteCount: max(size, 1), alignment: Self.alignment)
        volatile = .allocate(byteCount: max(size, 1), alignment: Self.alignment)
        Bytes.zero(durable)
        if let contents {
            precondition(contents.count == size)
            if size > 0 { durable.copyMemory(from: contents) }
        }
        volatile.copyMemory(from: UnsafeRawBufferPointer(durable))
    }

    deinit {
        durable.deallocate()
        volatile.deallocate()
    }

    /// The durable image, `size` bytes.
    var durableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: durable[0..<size]) }
    /// The volatile view, `size` bytes.
    var volatileBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: volatile[0..<size]) }
}

extension Array where Element == UInt8 {
    /// The bytes of an image buffer.
    init(_ buffer: UnsafeMutableRawBufferPointer) { self = Bytes.array(UnsafeRawBufferPointer(buffer)) }
}

/// A write submitted to a queue whose completion has not been reported.
struct PendingWrite {
    let sequence: Int
    let queueID: Int
    let inode: Inode
    let fileName: String
    let offset: Int
    /// The bytes at submission.
    let data: [UInt8]
    /// The caller's buffer, compared with `data` at completion: the caller
    /// must not change it while the write is in flight.
    let buffer: UncheckedPointer
    let tag: UInt64
    /// Polls of the queue left before the write may complete (latency).
    var holdPolls: Int
    /// The completion will carry `EIO`.
    let fails: Bool
    /// Where the write really lands, when misdirected.
    let misdirection: (inode: Inode, location: SimulatedDisk.Location)?

    var range: Range<Int> { offset..<(offset + data.count) }
    var landing: (inode: Inode, offset: Int) { misdirection.map { ($0.inode, $0.location.offset) } ?? (inode, offset) }
}

/// A write queue's state inside the disk.
struct QueueState {
    let depth: Int
    var random: SimulationRandom
    let signal: WakeSignal
    /// Whether the queue's last poll reported nothing (the next must report
    /// something, so that polling makes progress).
    var lastPollEmpty = false
}

/// Random streams, one per concern, so that one concern's draws leave the
/// others' unchanged.
enum Stream: UInt64 {
    case queue = 1, read, durableWrite, powerCut, bitFlip

    func id(boot: Int, index: Int = 0) -> UInt64 {
        rawValue << 48 | UInt64(boot) << 24 | UInt64(index)
    }
}

/// Everything the disk's mutex guards.
struct DiskState {
    static let powerCutSuffix = " (power cut)"

    let seed: UInt64
    var faults: SimulatedDisk.Faults
    var boot = 0
    var poweredOff = false
    var ioCount = 0
    var cutAtIOCount: Int?
    /// The named files of the current boot.
    var directory: [String: Inode] = [:]
    var nextInodeID = 0
    /// The lock holder of the current boot, by lock number.
    var lockHolder: Int?
    /// Holders of file locks (`lockFile`), by file name; a power cut drops them.
    var fileLockHolders: [String: Int] = [:]
    var nextLockID = 0
    /// Writes in flight, in submission order.
    var inFlight: [PendingWrite] = []
    var nextWriteSequence = 0
    var queues: [Int: QueueState] = [:]
    var nextQueueID = 0
    var readRandom: SimulationRandom
    var durableWriteRandom: SimulationRandom
    var bitFlipRandom: SimulationRandom
    var powerCuts: [SimulatedDisk.PowerCutReport] = []
    var violations: [String] = []
    /// Queued writes sent elsewhere than their target, over the disk's life.
    var misdirectedWrites = 0

    init(seed: UInt64, faults: SimulatedDisk.Faults) {
        self.seed = seed
        self.faults = faults
        readRandom = SimulationRandom(seed: seed, stream: Stream.read.id(boot: 0))
        durableWriteRandom = SimulationRandom(seed: seed, stream: Stream.durableWrite.id(boot: 0))
        bitFlipRandom = SimulationRandom(seed: seed, stream: Stream.bitFlip.id(boot: 0))
    }

    // MARK: Power

    /// Throws the power-cut error unless `boot` is the current boot and the
    /// power is on.
    func checkAlive(boot: Int, _ operation: String, _ path: String) throws(StorageError) {
        if poweredOff || boot != self.boot {
            throw StorageError(operation + Self.powerCutSuffix, path: path, errno: .ioError)
        }
    }

    /// Counts an I/O boundary and cuts the power when it is the armed one.
    /// Returns whether the power went off.
    mutating func passBoundary() -> Bool {
        assert(!poweredOff)
        ioCount += 1
        if let k = cutAtIOCount, ioCount >= k {
            cutPower()
            return true
        }
        return false
    }

    /// Decides the fate of every write in flight, applies it to the durable
    /// image, and kills the boot.
    @discardableResult
    mutating func cutPower() -> SimulatedDisk.PowerCutReport {
        precondition(!poweredOff)
        poweredOff = true
        cutAtIOCount = nil
        var random = SimulationRandom(seed: seed, stream: Stream.powerCut.id(boot: boot))
        // The writes land in an order the seed chooses: overlapping writes
        // in flight may land either way round.
        var landingOrder = Array(inFlight.indices)
        random.shuffle(&landingOrder)
        var fates = [SimulatedDisk.WriteFate?](repeating: nil, count: inFlight.count)
        for index in landingOrder {
            fates[index] = land(inFlight[index], random: &random)
        }
        inFlight.removeAll()
        for queue in queues.values { queue.signal.close() }
        queues.removeAll()
        let report = SimulatedDisk.PowerCutReport(
            seed: seed, boot: boot, ioCount: ioCount, writes: fates.compactMap { $0 })
        assert(report.writes.count == fates.count)
        powerCuts.append(report)
        return report
    }

    /// The fate of one write in flight at a power cut.
    private func land(_ write: PendingWrite, random: inout SimulationRandom) -> SimulatedDisk.WriteFate {
        let (inode, offset) = write.landing
        let roll = random.chance(faults.crashWholeProbability) ? 0 : (random.chance(tornShare) ? 1 : 2)
        var fate: SimulatedDisk.Fate
        switch roll {
        case 0:
            Self.copy(write.data, to: inode.durableBytes, at: offset) { _ in true }
            fate = .whole
        case 1:
            var newSectors: [Int] = []
            Self.copy(write.data, to: inode.durableBytes, at: offset) { sector in
                let new = random.chance(0.5)
                if new { newSectors.append(sector) }
                return new
            }
            fate = .torn(newSectors: newSectors)
        default:
            fate = .absent
        }
        var garbageSector: Int?
        if random.chance(faults.crashGarbageSectorProbability) {
            let sectors = Self.sectors(of: offset..<(offset + write.data.count))
            let sector = sectors[random.below(sectors.count)]
            let range = max(sector, offset)..<min(sector + SimulatedDisk.sectorBytes, offset + write.data.count)
            random.fill(UnsafeMutableRawBufferPointer(rebasing: inode.durableBytes[range]))
            garbageSector = sector
        }
        return SimulatedDisk.WriteFate(
            sequence: write.sequence, tag: write.tag,
            target: SimulatedDisk.Location(file: write.fileName, offset: write.offset),
            count: write.data.count, misdirectedTo: write.misdirection?.location,
            fate: fate, garbageSector: garbageSector)
    }

    /// The probability of a tear given that the write did not survive whole.
    private var tornShare: Double {
        let rest = 1 - faults.crashWholeProbability
        return rest <= 0 ? 0 : min(1, faults.crashTornProbability / rest)
    }

    /// Starts the next boot: fresh inodes over the durable image, no queues,
    /// no lock holder.
    mutating func startNextBoot() {
        precondition(poweredOff)
        assert(inFlight.isEmpty && queues.isEmpty)
        boot += 1
        poweredOff = false
        lockHolder = nil
        fileLockHolders = [:]
        var fresh: [String: Inode] = [:]
        for name in directory.keys.sorted() {
            guard let old = directory[name] else { continue }
            fresh[name] = Inode(id: nextInodeID, size: old.size, contents: UnsafeRawBufferPointer(old.durableBytes))
            nextInodeID += 1
        }
        directory = fresh
        readRandom = SimulationRandom(seed: seed, stream: Stream.read.id(boot: boot))
        durableWriteRandom = SimulationRandom(seed: seed, stream: Stream.durableWrite.id(boot: boot))
        bitFlipRandom = SimulationRandom(seed: seed, stream: Stream.bitFlip.id(boot: boot))
    }

    // MARK: Bytes

    /// The 512-byte sectors (their start offsets) that `range` touches.
    static func sectors(of range: Range<Int>) -> [Int] {
        let size = SimulatedDisk.sectorBytes
        guard !range.isEmpty else { return [] }
        let first = range.lowerBound - range.lowerBound % size
        return Array(stride(from: first, to: range.upperBound, by: size))
    }

    /// Copies `data` into `image` at `offset`, sector by sector, only the
    /// sectors `keep` (given each sector's start offset) accepts.
    static func copy(_ data: [UInt8], to image: UnsafeMutableRawBufferPointer, at offset: Int, keep: (Int) -> Bool) {
        let end = offset + data.count
        precondition(offset >= 0 && end <= image.count)
        data.withUnsafeBytes { source in
            for sector in Self.sectors(of: offset..<end) where keep(sector) {
                let from = max(sector, offset)
                let to = min(sector + SimulatedDisk.sectorBytes, end)
                UnsafeMutableRawBufferPointer(rebasing: image[from..<to])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[(from - offset)..<(to - offset)]))
            }
        }
    }

    /// Rebuilds the volatile view of `range` of `inode` from the durable
    /// image and the writes in flight over it, in submission order: after a
    /// write failed or was misdirected, reads show what the disk holds.
    mutating func refreshVolatile(_ inode: Inode, _ range: Range<Int>) {
        guard !range.isEmpty else { return }
        UnsafeMutableRawBufferPointer(rebasing: inode.volatileBytes[range])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: inode.durableBytes[range]))
        for write in inFlight where write.inode === inode && write.range.overlaps(range) {
            let from = max(write.offset, range.lowerBound)
            let to = min(write.range.upperBound, range.upperBound)
            write.data.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: inode.volatileBytes[from..<to])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[(from - write.offset)..<(to - write.offset)]))
            }
        }
    }

    mutating func flipBit(inode: Inode, offset: Int, bit: Int) {
        inode.durableBytes[offset] ^= UInt8(1) << UInt8(bit)
        refreshVolatile(inode, offset..<(offset + 1))
    }

    mutating func flipRandomBits(count: Int, file: String?) -> [SimulatedDisk.BitFlip] {
        let names = (file.map { [$0] } ?? directory.keys.sorted()).filter { (directory[$0]?.size ?? 0) > 0 }
        let total = names.reduce(0) { $0 + (directory[$1]?.size ?? 0) }
        guard total > 0 else { return [] }
        var flips: [SimulatedDisk.BitFlip] = []
        for _ in 0..<count {
            var position = bitFlipRandom.below(total)
            for name in names {
                guard let inode = directory[name] else { continue }
                if position < inode.size {
                    let bit = bitFlipRandom.below(8)
                    flipBit(inode: inode, offset: position, bit: bit)
                    flips.append(SimulatedDisk.BitFlip(location: SimulatedDisk.Location(file: name, offset: position), bit: bit))
                    break
                }
                position -= inode.size
            }
        }
        assert(flips.count == count)
        return flips
    }
}
