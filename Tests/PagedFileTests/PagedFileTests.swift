import Testing
@testable import PagedFile

@Suite("Paged file, one thread")
struct PagedFileTests {
    let page = 4096

    func makeFile(pages: Int = 64, pageBytes: Int = 4096) throws -> (PagePool, PagedFile) {
        let pool = try PagePool(capacityBytes: pages * pageBytes, pageBytes: pageBytes)
        return (pool, try PagedFile(pool: pool))
    }

    @Test("a new file is empty and reads nothing")
    func empty() throws {
        let (pool, file) = try makeFile()
        #expect(file.length == 0)
        #expect(file.allocatedBytes == 0)
        #expect(try file.read(at: 0, count: 10) == [])
        #expect(pool.committedBytes == 0)
    }

    @Test("write then read round-trips across page boundaries")
    func roundTrip() throws {
        let (pool, file) = try makeFile()
        let bytes = (0 ..< 3 * page + 123).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try file.write(at: page - 50, bytes: bytes)
        #expect(file.length == page - 50 + bytes.count)
        #expect(try file.read(at: page - 50, count: bytes.count) == bytes)
        #expect(try file.read(at: 0, count: page - 50) == [UInt8](repeating: 0, count: page - 50))
        // Pages 0 ... 3 are touched by the write (page - 50 ..< 4 * page + 73).
        #expect(file.allocatedBytes == 5 * page)
        #expect(pool.committedBytes == 5 * page)
        #expect(pool.rentedBytes == 5 * page)
    }

    @Test("holes read as zeros and take no page; extension reserves the gap")
    func holes() throws {
        let (pool, file) = try makeFile()
        try file.write(at: 10 * page + 1, bytes: [9, 9])
        #expect(file.length == 10 * page + 3)
        #expect(file.allocatedBytes == page)
        #expect(file.reservedBytes == 11 * page)
        #expect(pool.committedBytes == 11 * page)
        let all = try file.read(at: 0, count: 20 * page)
        #expect(all.count == 10 * page + 3)
        #expect(all.prefix(10 * page + 1).allSatisfy { $0 == 0 })
        #expect(Array(all.suffix(2)) == [9, 9])
    }

    @Test("reads past end of file return a short count")
    func shortReads() throws {
        let (_, file) = try makeFile()
        try file.write(at: 0, bytes: [1, 2, 3, 4, 5])
        #expect(try file.read(at: 3, count: 10) == [4, 5])
        #expect(try file.read(at: 5, count: 10) == [])
        #expect(try file.read(at: 1_000_000, count: 10) == [])
        #expect(try file.read(at: 2, count: 0) == [])
    }

    @Test("bad offsets and lengths are refused without side effects")
    func badArguments() throws {
        let (pool, file) = try makeFile()
        try file.write(at: 0, bytes: [1])
        #expect(throws: PagedFileError.self) { try file.write(at: -1, bytes: [1]) }
        #expect(throws: PagedFileError.self) { _ = try file.read(at: -1, count: 1) }
        #expect(throws: PagedFileError.self) { try file.setLength(-5) }
        #expect(throws: PagedFileError.self) { _ = try file.read(at: Int.min, count: 1) }
        #expect(throws: PagedFileError.invalidArgument("offset + count overflows")) {
            try file.write(at: Int.max, bytes: [1])
        }
        #expect(throws: PagedFileError.outOfSpace) { try file.write(at: Int.max - 1, bytes: [1]) }
        #expect(throws: PagedFileError.outOfSpace) { try file.setLength(Int.max) }
        #expect(file.length == 1)
        #expect(pool.committedBytes == page)
    }

    @Test("out of space: a clear error, exact accounting, nothing visible")
    func outOfSpace() throws {
        let pool = try PagePool(capacityBytes: 8 * page, pageBytes: page)
        let a = try PagedFile(pool: pool)
        let b = try PagedFile(pool: pool)
        try a.write(at: 0, bytes: [UInt8](repeating: 1, count: 5 * page))
        #expect(throws: PagedFileError.outOfSpace) { try b.write(at: 0, bytes: [UInt8](repeating: 2, count: 4 * page)) }
        #expect(b.length == 0)
        #expect(b.allocatedBytes == 0)
        #expect(pool.committedBytes == 5 * page)
        #expect(pool.rentedBytes == 5 * page)
        try b.write(at: 0, bytes: [UInt8](repeating: 2, count: 3 * page))
        #expect(pool.availableBytes == 0)
        #expect(throws: PagedFileError.outOfSpace) { try a.write(at: 5 * page, bytes: [1]) }
        #expect(throws: PagedFileError.outOfSpace) { try a.setLength(5 * page + 1) }
        #expect(a.length == 5 * page)
        // Growing inside the last page needs no new page.
        try a.write(at: 5 * page - 1, bytes: [7])
        #expect(expectPoolWhole(pool, files: [a, b]).isEmpty)
    }

    @Test("extension reserves capacity, so a later write inside the length cannot fail")
    func extensionReserves() throws {
        let pool = try PagePool(capacityBytes: 8 * page, pageBytes: page)
        let a = try PagedFile(pool: pool)
        let b = try PagedFile(pool: pool)
        try a.setLength(6 * page)
        #expect(a.allocatedBytes == 0)
        #expect(pool.committedBytes == 6 * page)
        #expect(pool.rentedBytes == 0)
        #expect(throws: PagedFileError.outOfSpace) { try b.setLength(3 * page) }
        try b.setLength(2 * page)
        try a.write(at: 0, bytes: [UInt8](repeating: 3, count: 6 * page))
        #expect(a.allocatedBytes == 6 * page)
        #expect(pool.committedBytes == 8 * page)
        #expect(try a.read(at: 6 * page - 1, count: 5) == [3])
        #expect(expectPoolWhole(pool, files: [a, b]).isEmpty)
    }

    @Test("truncation frees pages, and the bytes past end of file stay zero")
    func truncation() throws {
        let (pool, file) = try makeFile()
        try file.write(at: 0, bytes: [UInt8](repeating: 0x5A, count: 4 * page))
        try file.setLength(page + 100)
        #expect(file.length == page + 100)
        #expect(file.allocatedBytes == 2 * page)
        #expect(pool.committedBytes == 2 * page)
        #expect(pool.rentedBytes == 2 * page)
        try file.setLength(4 * page)
        let back = try file.read(at: 0, count: 4 * page)
        #expect(back.prefix(page + 100).allSatisfy { $0 == 0x5A })
        #expect(back.dropFirst(page + 100).allSatisfy { $0 == 0 })
        // A write past the end does not resurrect the cut bytes either.
        try file.setLength(page + 10)
        try file.write(at: page + 200, bytes: [1])
        #expect(try file.read(at: page + 10, count: 190) == [UInt8](repeating: 0, count: 190))
        #expect(expectPoolWhole(pool, files: [file]).isEmpty)
    }

    @Test("close frees everything; use after close throws closed")
    func close() throws {
        let (pool, file) = try makeFile()
        try file.write(at: 0, bytes: [UInt8](repeating: 1, count: 3 * page))
        try file.setLength(10 * page)
        file.close()
        #expect(file.isClosed)
        #expect(pool.committedBytes == 0)
        #expect(pool.rentedBytes == 0)
        #expect(pool.quiescentFreePageCount() == 64)
        #expect(file.length == 0)
        #expect(file.allocatedBytes == 0)
        #expect(throws: PagedFileError.closed) { try file.write(at: 0, bytes: [1]) }
        #expect(throws: PagedFileError.closed) { _ = try file.read(at: 0, count: 1) }
        #expect(throws: PagedFileError.closed) { try file.setLength(0) }
        #expect(throws: PagedFileError.closed) { try file.setLength(5) }
        file.close()
        #expect(pool.committedBytes == 0)
    }

    @Test("a file never holds another file's data after page reuse")
    func isolation() throws {
        let pool = try PagePool(capacityBytes: 4 * page, pageBytes: page)
        let a = try PagedFile(pool: pool)
        try a.write(at: 0, bytes: [UInt8](repeating: 0xAA, count: 4 * page))
        a.close()
        let b = try PagedFile(pool: pool)
        try b.write(at: 3, bytes: [1])
        try b.setLength(4 * page)
        let back = try b.read(at: 0, count: 4 * page)
        #expect(back.filter { $0 != 0 } == [1])
        #expect(b.allocatedBytes == page)
    }

    @Test("every supported page size works", arguments: [4096, 16384, 65536, 2 << 20])
    func pageSizes(pageBytes: Int) throws {
        let pool = try PagePool(capacityBytes: 8 * pageBytes, pageBytes: pageBytes)
        let file = try PagedFile(pool: pool)
        let bytes = (0 ..< 3 * pageBytes).map { UInt8(truncatingIfNeeded: $0 >> 3) }
        try file.write(at: pageBytes / 2, bytes: bytes)
        #expect(try file.read(at: pageBytes / 2, count: bytes.count) == bytes)
        #expect(file.allocatedBytes == 4 * pageBytes)
        try file.setLength(pageBytes)
        #expect(pool.rentedBytes == pageBytes)
    }

    @Test("a pool larger than one arena addresses every page")
    func multipleArenas() throws {
        let pageBytes = 2 << 20
        let pool = try PagePool(capacityBytes: (1 << 30) + 4 * pageBytes, pageBytes: pageBytes)
        let file = try PagedFile(pool: pool)
        try file.setLength(pool.capacityBytes)
        // The last pages live in the second arena.
        for k in [0, 511, 512, 513, 515] {
            try file.write(at: k * pageBytes + 17, bytes: [UInt8(k & 0xFF), 0xCD])
        }
        for k in [0, 511, 512, 513, 515] {
            #expect(try file.read(at: k * pageBytes + 17, count: 2) == [UInt8(k & 0xFF), 0xCD])
        }
        #expect(file.allocatedBytes == 5 * pageBytes)
        #expect(throws: PagedFileError.outOfSpace) { try file.write(at: pool.capacityBytes, bytes: [1]) }
    }
}
