public import JournalStorage
import JournalPrimitives

// The simulated disk.
//
// A stand-in for the real disk behind the storage seam that can lose power
// between any two I/O operations, so that recovery can be tested against
// every state a crash may leave.
//
// Two images per file:
// - the durable image: what survives a power cut. A queued write reaches it
//   when its completion is reported (or, at a power cut, whole, torn or not
//   at all); directory changes and `writeDurably` reach it at once;
// - the volatile view: what the operating system shows (reads, mappings):
//   the durable image plus every write submitted, in flight or completed.
//
// Files are inodes: a handle or mapping keeps its inode across rename and
// remove, as on POSIX. A boot is the life between two power cuts; at a cut
// every handle, queue and lock of the boot goes dead (operations fail with
// `EIO`, see `isPowerCut(_:)`), and `reboot()` starts a new boot over the
// post-crash durable image with fresh inodes. Old mappings stay readable and
// frozen.
//
// I/O boundaries (`ioCount`) are the points between operations that change
// the disk: a submission, a completion, a directory change, a durable write.
// `cutAfter(ioBoundary:)` cuts the power right after the k-th, so an explorer
// can cut a workload at each boundary in turn.
//
// Determinism: every decision comes from the seed, through one random stream
// per concern (per write queue, reads, durable writes, power cuts, bit
// flips), so a single-threaded sequence of calls always gives the same disk,
// byte for byte. Calls from several threads in a varying interleaving give
// varying results; the explorer drives the journal deterministically.

/// A simulated disk: files kept in memory as a durable image and a volatile
/// view, writes in flight that complete in an order the seed chooses, power
/// cuts at any I/O boundary, and injected faults.
///
/// Thread-safe: one mutex guards the whole disk. Mappings read the volatile
/// view without it, as a real mapping reads the page cache.
public final class SimulatedDisk: Sendable {
    /// Sectors tear independently at a power cut: 512 bytes, what the disks
    /// of interest guarantee to write atomically.
    public static let sectorBytes = 512

    /// The seed every decision of this disk derives from.
    public let seed: UInt64
    /// The alignment of queued and durable writes, reported as the storage's
    /// `ioAlignment`. A power of two.
    public let ioAlignment: Int

    let state: LockedValue<DiskState>

    /// A disk with no files, deterministic from `seed`.
    ///
    /// - Parameters:
    ///   - seed: the seed of every random decision.
    ///   - ioAlignment: the alignment writes must keep (a power of two; the
    ///     real disk here has 512).
    ///   - faults: the faults to inject; none by default.
    public init(seed: UInt64, ioAlignment: Int = 512, faults: Faults = Faults()) {
        precondition(ioAlignment > 0 && ioAlignment & (ioAlignment - 1) == 0, "alignment must be a power of two")
        faults.assertValid()
        self.seed = seed
        self.ioAlignment = ioAlignment
        self.state = LockedValue(DiskState(seed: seed, faults: faults))
    }

    /// A disk over a given state (see `copy()`).
    init(seed: UInt64, ioAlignment: Int, state: DiskState) {
        self.seed = seed
        self.ioAlignment = ioAlignment
        self.state = LockedValue(state)
    }

    // MARK: Boots and power

    /// The storage of the current boot. Every call returns a new object over
    /// the same files (as two processes opening one directory would).
    public func storage() -> SimulatedStorage {
        SimulatedStorage(disk: self, boot: state.withLock { $0.boot })
    }

    /// The current boot, from 0; `reboot()` increments it.
    public var boot: Int { state.withLock { $0.boot } }

    /// Whether the power of the current boot is off (after a cut, before
    /// `reboot()`).
    public var isPoweredOff: Bool { state.withLock { $0.poweredOff } }

    /// I/O boundaries passed over the disk's life: submissions, completions,
    /// directory changes and durable writes.
    public var ioCount: Int { state.withLock { $0.ioCount } }

    /// Cuts the power right after I/O boundary `ioBoundary` is passed (the
    /// operation that passes it takes effect and returns normally; every
    /// later one fails). Cuts at once when it has already been reached.
    public func cutAfter(ioBoundary: Int) {
        state.withLock { s in
            precondition(!s.poweredOff, "the power is already off")
            precondition(ioBoundary >= 0)
            if ioBoundary <= s.ioCount {
                s.cutPower()
            } else {
                s.cutAtIOCount = ioBoundary
            }
        }
    }

    /// Cuts the power now: completed writes stay, each write in flight
    /// survives whole, torn at sector granularity or not at all, possibly with
    /// a garbage sector (see `Faults`). The storage of this boot goes dead.
    /// Returns what became of each write in flight.
    @discardableResult
    public func powerCut() -> PowerCutReport {
        state.withLock { s in
            precondition(!s.poweredOff, "the power is already off")
            return s.cutPower()
        }
    }

    /// Every power cut so far, oldest first.
    public var powerCuts: [PowerCutReport] { state.withLock { $0.powerCuts } }

    /// Starts the next boot over the post-crash durable image (cutting the
    /// power first if it is on) and returns its storage.
    public func reboot() -> SimulatedStorage {
        let boot = state.withLock { s in
            if !s.poweredOff { s.cutPower() }
            s.startNextBoot()
            return s.boot
        }
        return SimulatedStorage(disk: self, boot: boot)
    }

    /// Whether `error` is the failure of an operation after a power cut.
    public static func isPowerCut(_ error: StorageError) -> Bool {
        error.errno == .ioError && error.operation.hasSuffix(DiskState.powerCutSuffix)
    }

    // MARK: Faults

    /// The faults injected from now on. May be changed at any time.
    public var faults: Faults {
        get { state.withLock { $0.faults } }
        set {
            newValue.assertValid()
            state.withLock { $0.faults = newValue }
        }
    }

    /// Flips bit `bit` of the byte at `offset` of `file` in the durable image
    /// (and in the volatile view, where no write in flight covers it), as
    /// media corruption would. Returns false when there is no such byte.
    @discardableResult
    public func flipBit(file: String, offset: Int, bit: Int = 0) -> Bool {
        precondition((0..<8).contains(bit))
        return state.withLock { s in
            guard let inode = s.directory[file], offset >= 0, offset < inode.size else { return false }
            s.flipBit(inode: inode, offset: offset, bit: bit)
            return true
        }
    }

    /// Flips `count` bits chosen by the seed in the durable image of `file`
    /// (or of any file, weighted by size) and returns where.
    @discardableResult
    public func flipRandomBits(count: Int, file: String? = nil) -> [BitFlip] {
        precondition(count >= 0)
        return state.withLock { s in s.flipRandomBits(count: count, file: file) }
    }

    // MARK: Inspection

    /// A copy of the durable image: the bytes of each named file that a power
    /// cut now would keep, writes in flight aside.
    public func durableImage() -> [String: [UInt8]] {
        state.withLock { s in s.directory.mapValues { Array($0.durable) } }
    }

    /// Calls `body` with each named file's durable image, in name order,
    /// without copying it. The disk is locked meanwhile: `body` must not
    /// use the disk.
    func forEachDurableFile(_ body: (String, UnsafeRawBufferPointer) -> Void) {
        state.withLock { s in
            for name in s.directory.keys.sorted() {
                guard let inode = s.directory[name] else { continue }
                body(name, UnsafeRawBufferPointer(inode.durable))
            }
        }
    }

    /// A copy of the volatile view: the bytes of each named file as reads
    /// show them.
    public func volatileImage() -> [String: [UInt8]] {
        state.withLock { s in s.directory.mapValues { Array($0.volatile) } }
    }

    /// The writes in flight, in submission order.
    public var inFlightWrites: [InFlightWrite] {
        state.withLock { s in
            s.inFlight.map {
                InFlightWrite(
                    sequence: $0.sequence, tag: $0.tag,
                    target: Location(file: $0.fileName, offset: $0.offset), count: $0.data.count)
            }
        }
    }

    /// Breaches of the storage contract seen so far, e.g. a write buffer
    /// changed while its write was in flight. Empty for a correct user.
    public var contractViolations: [String] { state.withLock { $0.violations } }
}
