extension SimulatedDisk {
    /// The faults a simulated disk injects, and how it treats writes in
    /// flight at a power cut. Every decision is drawn from the disk's seed.
    ///
    /// Probabilities are in `0...1`; 0 turns a fault off without changing the
    /// other random decisions of a run.
    public struct Faults: Sendable, Equatable {
        /// The files the I/O faults apply to (writes, durable writes, reads,
        /// latency, misdirection); `nil` means every file. Power-cut behaviour
        /// applies to every write in flight regardless.
        public var files: Set<String>? = nil

        /// A queued write completes with `EIO`. Its sectors land or not, each
        /// at random, as after a failed device write.
        public var writeErrorProbability: Double = 0
        /// `writeDurably` throws `EIO`. Its sectors land or not, each at random.
        public var durableWriteErrorProbability: Double = 0
        /// `read(into:at:)` throws `EIO`.
        public var readErrorProbability: Double = 0

        /// A queued write is held back for `1...latencyPollsMax` polls of its
        /// queue, so that later writes complete before it.
        public var latencyProbability: Double = 0
        /// The longest a slow write is held back, in polls of its queue.
        public var latencyPollsMax: Int = 32

        /// A queued write lands at another aligned offset, possibly in another
        /// file, and its completion still reports success.
        public var misdirectedWriteProbability: Double = 0

        /// At a power cut, a write in flight survives whole.
        public var crashWholeProbability: Double = 1.0 / 3.0
        /// At a power cut, a write in flight is torn: each 512-byte sector
        /// holds the old or the new bytes. (The rest of the writes vanish.)
        public var crashTornProbability: Double = 1.0 / 3.0
        /// At a power cut, one sector of a write in flight (whatever became of
        /// the rest of it) fills with random bytes.
        public var crashGarbageSectorProbability: Double = 0

        /// No I/O faults; writes in flight at a power cut survive whole, torn
        /// or not at all with equal probability.
        public init() {}

        /// Whether I/O faults apply to the file named `name`.
        func applies(to name: String) -> Bool {
            files.map { $0.contains(name) } ?? true
        }

        func assertValid() {
            let probabilities = [
                writeErrorProbability, durableWriteErrorProbability, readErrorProbability,
                latencyProbability, misdirectedWriteProbability, crashWholeProbability,
                crashTornProbability, crashGarbageSectorProbability,
            ]
            for p in probabilities {
                precondition(p >= 0 && p <= 1, "a probability is in 0...1")
            }
            precondition(crashWholeProbability + crashTornProbability <= 1 + 1e-9, "crash outcomes sum to at most 1")
            precondition(latencyPollsMax >= 1, "latency is at least one poll")
        }
    }

    /// A place on the simulated disk.
    public struct Location: Sendable, Equatable, CustomStringConvertible {
        /// The file's name when the write was submitted.
        public var file: String
        /// Byte offset in the file.
        public var offset: Int

        public init(file: String, offset: Int) {
            self.file = file
            self.offset = offset
        }

        public var description: String { "\(file)@\(offset)" }
    }

    /// What became of a write in flight at a power cut.
    public enum Fate: Sendable, Equatable, CustomStringConvertible {
        /// Every byte reached the durable image.
        case whole
        /// No byte reached the durable image.
        case absent
        /// Some sectors reached the durable image: `newSectors` lists the byte
        /// offsets (in the file the write landed in) of the sectors that hold
        /// the new bytes; the others hold the old ones.
        case torn(newSectors: [Int])

        public var description: String {
            switch self {
            case .whole: "whole"
            case .absent: "absent"
            case .torn(let sectors): "torn(new sectors at \(sectors))"
            }
        }
    }

    /// One write in flight at a power cut and what became of it.
    public struct WriteFate: Sendable, Equatable, CustomStringConvertible {
        /// Submission order over the disk's life, from 0.
        public var sequence: Int
        /// The tag the write was submitted with.
        public var tag: UInt64
        /// Where the write was meant to go.
        public var target: Location
        /// Length in bytes.
        public var count: Int
        /// Where the write actually landed, when it was misdirected.
        public var misdirectedTo: Location?
        /// What became of the write.
        public var fate: Fate
        /// The byte offset (in the file the write landed in) of the sector
        /// that was filled with random bytes, if any.
        public var garbageSector: Int?

        public var description: String {
            var s = "write #\(sequence) tag \(tag) \(target) +\(count): \(fate)"
            if let m = misdirectedTo { s += ", misdirected to \(m)" }
            if let g = garbageSector { s += ", garbage sector at \(g)" }
            return s
        }
    }

    /// What a power cut did: the boundary it came after and the fate of each
    /// write in flight, in submission order.
    public struct PowerCutReport: Sendable, Equatable, CustomStringConvertible {
        /// The seed of the disk.
        public var seed: UInt64
        /// The boot that ended.
        public var boot: Int
        /// I/O boundaries passed before the cut.
        public var ioCount: Int
        /// Writes that were in flight, in submission order.
        public var writes: [WriteFate]

        public var description: String {
            var lines = ["power cut (seed \(seed), boot \(boot), after I/O boundary \(ioCount)): \(writes.count) write(s) in flight"]
            lines += writes.map { "  " + $0.description }
            return lines.joined(separator: "\n")
        }
    }

    /// A bit flipped in the durable image.
    public struct BitFlip: Sendable, Equatable, CustomStringConvertible {
        /// Where the flipped byte is.
        public var location: Location
        /// Which bit of the byte, 0 (least significant) to 7.
        public var bit: Int

        public var description: String { "bit \(bit) of \(location)" }
    }

    /// A write still in flight, for diagnostics.
    public struct InFlightWrite: Sendable, Equatable, CustomStringConvertible {
        /// Submission order over the disk's life, from 0.
        public var sequence: Int
        /// The tag the write was submitted with.
        public var tag: UInt64
        /// Where the write is meant to go.
        public var target: Location
        /// Length in bytes.
        public var count: Int

        public var description: String { "write #\(sequence) tag \(tag) \(target) +\(count)" }
    }
}
