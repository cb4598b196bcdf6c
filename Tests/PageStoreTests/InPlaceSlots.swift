import JournalPrimitives
import JournalStorage

/// A storage wrapper under which a snapshot slot behaves as if rewritten in
/// place: a slot opened read-only is read by name on every read, so a
/// checkpoint that replaces the slot meanwhile shows through the open
/// handle. `onFirstBodyRead` runs once, before the first read past a
/// slot's header block (the reader has chosen the slot and read its
/// header): the test's writer rewrites the slot there.
final class InPlaceSlots: StorageDirectory, @unchecked Sendable {
    // @unchecked: the hook is set before the reader runs, and runs on its thread.
    let base: any StorageDirectory
    var onFirstBodyRead: (() -> Void)?
    private(set) var injected = false

    init(_ base: any StorageDirectory) { self.base = base }

    var path: String { base.path }
    var ioAlignment: Int { base.ioAlignment }
    func fileNames() throws(StorageError) -> [String] { try base.fileNames() }
    func createZeroFilled(_ name: String, bytes: Int) throws(StorageError) -> any StorageFile { try base.createZeroFilled(name, bytes: bytes) }
    func open(_ name: String) throws(StorageError) -> any StorageFile { try base.open(name) }
    func rename(_ from: String, to: String) throws(StorageError) { try base.rename(from, to: to) }
    func remove(_ name: String) throws(StorageError) { try base.remove(name) }
    func lockExclusive() throws(StorageError) -> any StorageLock { try base.lockExclusive() }
    func makeWriteQueue(depth: Int) throws(StorageError) -> any StorageWriteQueue { try base.makeWriteQueue(depth: depth) }

    func openReadOnly(_ name: String) throws(StorageError) -> any StorageFile {
        guard name.hasPrefix("snapshot-") else { return try base.openReadOnly(name) }
        return ByName(name: name, owner: self, size: try base.openReadOnly(name).size)
    }

    func beforeRead(at offset: Int) {
        guard offset >= 4096, !injected, let hook = onFirstBodyRead else { return }
        injected = true
        hook()
    }

    /// A slot read by name at every read.
    final class ByName: StorageFile, @unchecked Sendable {
        let name: String
        let owner: InPlaceSlots
        let size: Int

        init(name: String, owner: InPlaceSlots, size: Int) {
            self.name = name
            self.owner = owner
            self.size = size
        }

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int {
            owner.beforeRead(at: offset)
            let file = try owner.base.openReadOnly(name)
            defer { file.close() }
            return try file.read(into: buffer, at: offset)
        }

        func writeDurably(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError) {
            throw StorageError("pwrite", path: name, errno: .notPermitted)
        }

        func mapReadOnly() throws(StorageError) -> any StorageMapping {
            let file = try owner.base.openReadOnly(name)
            defer { file.close() }
            return try file.mapReadOnly()
        }

        func close() {}
    }
}
