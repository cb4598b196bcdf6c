import Foundation
@testable import JournalFileStorage
import JournalStorage
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `createZeroFilled` on the real storage: zeros written over the whole
/// length on a disk file system, `fallocate` on tmpfs (journal-format.md,
/// section 2). Either way the file has its full length, reads as zeros and
/// has every byte allocated (no hole a later write would have to fill).
@Suite struct ZeroFilledFileTests {
    @Test(arguments: TestFileSystem.allCases)
    func aZeroFilledFileIsWholeZeroAndAllocated(fs: TestFileSystem) throws {
        let dir = TemporaryDirectory(on: fs, "zero-filled")
        let storage = try FileSystemStorage(path: dir.path)
        #expect((storage.fileSystemType == FileSystemStorage.tmpfsMagic) == (fs == .shm))
        // Not a multiple of the 1 MiB the zeros are written in.
        let bytes = (3 << 20) + 4 * storage.ioAlignment
        let file = try storage.createZeroFilled("f", bytes: bytes)
        defer { file.close() }
        #expect(file.size == bytes)
        var st = stat()
        #expect(stat(dir.path + "/f", &st) == 0)
        #expect(Int(st.st_size) == bytes)
        #expect(Int(st.st_blocks) * 512 >= bytes, "every byte allocated: \(st.st_blocks) blocks of 512 bytes")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/f.tmp"), "created under a temporary name, renamed")
        let back = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: max(storage.ioAlignment, 4096))
        defer { back.deallocate() }
        back.initializeMemory(as: UInt8.self, repeating: 0xEE)
        #expect(try file.read(into: back, at: 0) == bytes)
        #expect(back.allSatisfy { $0 == 0 })
    }
}
