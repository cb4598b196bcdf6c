public import JournalStorage
import JournalPrimitives

/// One boot's view of a `SimulatedDisk` as a storage directory: what the
/// journal opens instead of a `FileSystemStorage`.
///
/// Directory changes are durable at once, as in the real implementation.
/// After the disk's power is cut every operation fails with `EIO` (see
/// `SimulatedDisk.isPowerCut(_:)`). Safe to call from any thread.
public final class SimulatedStorage: StorageDirectory {
    /// The disk behind this storage.
    public let disk: SimulatedDisk
    /// The boot this storage belongs to.
    public let boot: Int

    init(disk: SimulatedDisk, boot: Int) {
        self.disk = disk
        self.boot = boot
    }

    /// `sim:SEED/boot-N`, for messages.
    public var path: String { "sim:\(String(disk.seed, radix: 16))/boot-\(boot)" }

    /// The disk's alignment.
    public var ioAlignment: Int { disk.ioAlignment }

    /// The names of the files, sorted (the seam promises no order; sorted
    /// keeps runs reproducible).
    public func fileNames() throws(StorageError) -> [String] {
        try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "readdir", path)
            return s.directory.keys.sorted()
        }
    }

    /// Creates `name` filled with zeros, durable at once. Fails with `EEXIST`
    /// when it exists. One I/O boundary.
    public func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile {
        precondition(!name.isEmpty && !name.contains("/"), "file names are plain names")
        precondition(bytes >= 0 && bytes % ioAlignment == 0, "size must be a multiple of the I/O alignment")
        let inode = try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "create", name)
            if s.directory[name] != nil { throw StorageError("create", path: name, errno: .fileExists) }
            let inode = Inode(id: s.nextInodeID, size: bytes)
            s.nextInodeID += 1
            s.directory[name] = inode
            _ = s.passBoundary()
            return inode
        }
        return SimulatedFile(storage: self, name: name, inode: inode)
    }

    /// Opens `name`; `ENOENT` when it does not exist.
    public func open(_ name: String) throws(StorageError) -> any StorageFile {
        let inode = try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "open", name)
            guard let inode = s.directory[name] else {
                throw StorageError("open", path: name, errno: .noSuchFileOrDirectory)
            }
            return inode
        }
        return SimulatedFile(storage: self, name: name, inode: inode)
    }

    /// Renames `from` to `to`, replacing `to`; durable at once. One I/O
    /// boundary.
    public func rename(_ from: String, to: String) throws(StorageError) {
        precondition(!to.isEmpty && !to.contains("/"), "file names are plain names")
        try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "rename", from)
            guard let inode = s.directory.removeValue(forKey: from) else {
                throw StorageError("rename", path: from, errno: .noSuchFileOrDirectory)
            }
            s.directory[to] = inode
            _ = s.passBoundary()
        }
    }

    /// Removes `name`; durable at once. Open handles keep the file's bytes.
    /// One I/O boundary.
    public func remove(_ name: String) throws(StorageError) {
        try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "unlink", name)
            guard s.directory.removeValue(forKey: name) != nil else {
                throw StorageError("unlink", path: name, errno: .noSuchFileOrDirectory)
            }
            _ = s.passBoundary()
        }
    }

    /// Takes the directory's writer lock, or fails with `EWOULDBLOCK` while
    /// another holder (through any storage of this boot) has it. A power cut
    /// releases it.
    public func lockExclusive() throws(StorageError) -> any StorageLock {
        let id = try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "flock", path)
            if s.lockHolder != nil { throw StorageError("flock", path: path, errno: .wouldBlock) }
            let id = s.nextLockID
            s.nextLockID += 1
            s.lockHolder = id
            return id
        }
        return SimulatedLock(disk: disk, boot: boot, id: id)
    }

    /// Takes the lock of file `name` (created empty if absent), or fails
    /// with `EWOULDBLOCK` while another holder has it. A power cut releases
    /// it. The file is not an I/O boundary: its bytes mean nothing.
    public func lockFile(_ name: String) throws(StorageError) -> any StorageLock {
        let id = try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "fcntl F_OFD_SETLK", name)
            if s.fileLockHolders[name] != nil { throw StorageError("fcntl F_OFD_SETLK", path: name, errno: .wouldBlock) }
            if s.directory[name] == nil {
                s.directory[name] = Inode(id: s.nextInodeID, size: 0)
                s.nextInodeID += 1
            }
            let id = s.nextLockID
            s.nextLockID += 1
            s.fileLockHolders[name] = id
            return id
        }
        return SimulatedLock(disk: disk, boot: boot, id: id, file: name)
    }

    /// A write queue of `depth` writes whose completions come in an order
    /// the seed chooses.
    public func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue {
        try makeSimulatedWriteQueue(depth: depth)
    }

    /// `makeWriteQueue(depth:)` with its concrete type.
    public func makeSimulatedWriteQueue(depth: Int) throws(StorageError) -> SimulatedWriteQueue {
        precondition(depth > 0 && depth <= 1024)
        let (id, signal) = try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: boot, "io_uring_queue_init", path)
            let id = s.nextQueueID
            s.nextQueueID += 1
            let signal = WakeSignal()
            s.queues[id] = QueueState(
                depth: depth,
                random: SimulationRandom(seed: s.seed, stream: Stream.queue.id(boot: s.boot, index: id)),
                signal: signal)
            return (id, signal)
        }
        return SimulatedWriteQueue(storage: self, id: id, depth: depth, signal: signal)
    }
}

/// The writer lock of a simulated directory.
final class SimulatedLock: StorageLock {
    let disk: SimulatedDisk
    let boot: Int
    let id: Int
    /// The locked file's name; nil for the directory's writer lock.
    let file: String?

    init(disk: SimulatedDisk, boot: Int, id: Int, file: String? = nil) {
        self.disk = disk
        self.boot = boot
        self.id = id
        self.file = file
    }

    func unlock() {
        disk.state.withLock { s in
            guard s.boot == boot else { return }
            if let file {
                if s.fileLockHolders[file] == id { s.fileLockHolders[file] = nil }
            } else if s.lockHolder == id {
                s.lockHolder = nil
            }
        }
    }

    deinit { unlock() }
}

/// An open file of a simulated directory: a handle on an inode, so it
/// follows the file across rename and keeps it after remove.
public final class SimulatedFile: StorageFile {
    let storage: SimulatedStorage
    let inode: Inode
    /// The name the file was opened or created under.
    public let name: String
    /// The file's fixed size in bytes.
    public var size: Int { inode.size }

    init(storage: SimulatedStorage, name: String, inode: Inode) {
        self.storage = storage
        self.name = name
        self.inode = inode
    }

    private var disk: SimulatedDisk { storage.disk }

    /// Reads the volatile view. May fail with an injected `EIO`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int {
        precondition(offset >= 0)
        return try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: storage.boot, "pread", name)
            if s.faults.applies(to: name) && s.readRandom.chance(s.faults.readErrorProbability) {
                throw StorageError("pread", path: name, errno: .ioError)
            }
            let count = max(0, min(buffer.count, inode.size - offset))
            if count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: inode.volatileBytes[offset..<(offset + count)]))
            }
            return count
        }
    }

    /// Writes both images at once. An injected `EIO` lands a random subset of
    /// the sectors and throws. One I/O boundary.
    public func writeDurably(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError) {
        let alignment = storage.ioAlignment
        precondition(offset % alignment == 0 && bytes.count % alignment == 0, "unaligned write")
        precondition(bytes.isEmpty || Int(bitPattern: bytes.baseAddress) % alignment == 0, "unaligned buffer")
        precondition(offset >= 0 && offset + bytes.count <= inode.size, "simulated files have a fixed size")
        let data = Bytes.array(bytes)
        try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: storage.boot, "pwrite", name)
            if s.faults.applies(to: name) && s.durableWriteRandom.chance(s.faults.durableWriteErrorProbability) {
                DiskState.copy(data, to: inode.durableBytes, at: offset) { _ in s.durableWriteRandom.chance(0.5) }
                s.refreshVolatile(inode, offset..<(offset + data.count))
                _ = s.passBoundary()
                throw StorageError("pwrite", path: name, errno: .ioError)
            }
            DiskState.copy(data, to: inode.durableBytes, at: offset) { _ in true }
            s.refreshVolatile(inode, offset..<(offset + data.count))
            _ = s.passBoundary()
        }
    }

    /// A mapping of the volatile view; valid until released, even after a
    /// power cut (then frozen).
    public func mapReadOnly() throws(StorageError) -> any StorageMapping {
        try disk.state.withLock { s throws(StorageError) in
            try s.checkAlive(boot: storage.boot, "mmap", name)
        }
        return SimulatedMapping(inode: inode)
    }

    /// Does nothing, as the real file's close: the handle lives until
    /// released.
    public func close() {}
}

/// A read-only view of an inode's volatile bytes.
// The bytes are the inode's, kept alive by `inode`.
final class SimulatedMapping: StorageMapping, @unchecked Sendable {
    let inode: Inode
    let bytes: UnsafeRawBufferPointer

    init(inode: Inode) {
        self.inode = inode
        self.bytes = UnsafeRawBufferPointer(inode.volatileBytes)
    }
}
