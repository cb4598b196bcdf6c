// A storage directory in memory, behind the journal's storage seam: files
// are plain buffers of a fixed size, writes land at once (a write queue
// completes each write as it is submitted), nothing is ever lost. The fuzz
// target lays its input out as files here; the seed writer runs the real
// journal on it. One buffer per file keeps each execution cheap.

import JournalStorage
import Synchronization
import JournalPrimitives

final class MemoryInode: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer

    init(size: Int) {
        bytes = .allocate(byteCount: max(size, 1), alignment: 4096)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        count = size
    }

    /// The file's size (the buffer holds at least one byte).
    let count: Int

    var view: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[0..<count]) }

    deinit { bytes.deallocate() }
}

final class MemoryDirectory: StorageDirectory {
    private let files = Mutex<[String: MemoryInode]>([:])
    private let locked = Mutex(false)

    var path: String { "memory" }
    var ioAlignment: Int { 512 }

    func fileNames() throws(StorageError) -> [String] {
        files.withLock { $0.keys.sorted() }
    }

    /// The files and their bytes.
    func image() -> [String: [UInt8]] {
        files.withLock { $0.mapValues { Array($0.view) } }
    }

    /// Puts `bytes` into `name`, replacing it.
    func put(_ name: String, _ bytes: [UInt8]) {
        let inode = MemoryInode(size: bytes.count)
        inode.bytes.copyBytes(from: bytes)
        files.withLock { $0[name] = inode }
    }

    func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile {
        try files.withLock { f throws(StorageError) in
            if f[name] != nil { throw StorageError("create", path: name, errno: .fileExists) }
            let inode = MemoryInode(size: bytes)
            f[name] = inode
            return MemoryFile(name: name, inode: inode)
        }
    }

    func open(_ name: String) throws(StorageError) -> any StorageFile {
        try files.withLock { f throws(StorageError) in
            guard let inode = f[name] else { throw StorageError("open", path: name, errno: .noSuchFileOrDirectory) }
            return MemoryFile(name: name, inode: inode)
        }
    }

    func rename(_ from: String, to: String) throws(StorageError) {
        try files.withLock { f throws(StorageError) in
            guard let inode = f.removeValue(forKey: from) else {
                throw StorageError("rename", path: from, errno: .noSuchFileOrDirectory)
            }
            f[to] = inode
        }
    }

    func remove(_ name: String) throws(StorageError) {
        try files.withLock { f throws(StorageError) in
            guard f.removeValue(forKey: name) != nil else {
                throw StorageError("unlink", path: name, errno: .noSuchFileOrDirectory)
            }
        }
    }

    func lockExclusive() throws(StorageError) -> any StorageLock {
        try locked.withLock { held throws(StorageError) in
            if held { throw StorageError("flock", path: path, errno: .wouldBlock) }
            held = true
        }
        return MemoryLock(directory: self)
    }

    fileprivate func unlock() {
        locked.withLock { $0 = false }
    }

    func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue {
        MemoryWriteQueue(depth: depth)
    }
}

final class MemoryLock: StorageLock {
    private let directory: MemoryDirectory
    private let held = Mutex(true)

    init(directory: MemoryDirectory) { self.directory = directory }

    func unlock() {
        let release = held.withLock { h in
            defer { h = false }
            return h
        }
        if release { directory.unlock() }
    }

    deinit { unlock() }
}

final class MemoryFile: StorageFile {
    let name: String
    let inode: MemoryInode

    init(name: String, inode: MemoryInode) {
        self.name = name
        self.inode = inode
    }

    var size: Int { inode.count }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int {
        let n = max(0, min(buffer.count, inode.count - offset))
        if n > 0 { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: inode.view[offset..<(offset + n)])) }
        return n
    }

    func writeDurably(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError) {
        guard offset >= 0, offset + bytes.count <= inode.count else {
            throw StorageError("pwrite", path: name, errno: .invalidArgument)
        }
        UnsafeMutableRawBufferPointer(rebasing: inode.bytes[offset..<(offset + bytes.count)]).copyMemory(from: bytes)
    }

    func mapReadOnly() throws(StorageError) -> any StorageMapping {
        MemoryMapping(inode: inode)
    }

    func close() {}
}

final class MemoryMapping: StorageMapping {
    let inode: MemoryInode

    init(inode: MemoryInode) { self.inode = inode }

    var bytes: UnsafeRawBufferPointer { inode.view }
}

struct NoWaker: StorageWaker {
    func wake() {}
}

/// Completes every write as it is submitted.
final class MemoryWriteQueue: StorageWriteQueue {
    let depth: Int
    private var done: [StorageCompletion] = []

    init(depth: Int) { self.depth = depth }

    var inFlightCount: Int { done.count }
    var waker: any StorageWaker { NoWaker() }

    func submit(_ write: StorageWrite) throws(StorageError) {
        let result: Result<Int, StorageError>
        do {
            try write.file.writeDurably(UnsafeRawBufferPointer(start: write.buffer, count: write.count), at: write.offset)
            result = .success(write.count)
        } catch {
            result = .failure(error)
        }
        done.append(StorageCompletion(tag: write.tag, result: result))
    }

    func pollCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        let ready = done
        done = []
        ready.forEach(body)
        return ready.count
    }

    func waitForCompletions(_ body: (StorageCompletion) -> Void) throws(StorageError) -> Int {
        try pollCompletions(body)
    }
}
