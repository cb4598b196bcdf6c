import TestSupport
import JournalPrimitives
import Testing
@testable import PagedFile

@Suite("Page pool")
struct PagePoolTests {
    @Test("rejects page sizes that are not powers of two from 4 KiB to 2 MiB")
    func rejectsBadPageSizes() {
        for bad in [0, 1, 2048, 4095, 4097, 3 << 12, 4 << 20] {
            #expect(throws: PagedFileError.self) { _ = try PagePool(capacityBytes: 64 << 20, pageBytes: bad) }
        }
        for good in [4096, 8192, 64 << 10, 2 << 20] {
            #expect(throws: Never.self) { _ = try PagePool(capacityBytes: 4 << 20, pageBytes: good) }
        }
    }

    @Test("rejects a capacity smaller than one page and rounds down to whole pages")
    func capacityRounding() throws {
        #expect(throws: PagedFileError.self) { _ = try PagePool(capacityBytes: 4095, pageBytes: 4096) }
        #expect(throws: PagedFileError.self) { _ = try PagePool(capacityBytes: -1, pageBytes: 4096) }
        let pool = try PagePool(capacityBytes: 10 * 4096 + 100, pageBytes: 4096)
        #expect(pool.pageCapacity == 10)
        #expect(pool.capacityBytes == 40960)
        #expect(pool.availableBytes == 40960)
    }

    @Test("reserve is exact and refuses to oversell")
    func reserveExact() throws {
        let pool = try PagePool(capacityBytes: 8 * 4096, pageBytes: 4096)
        try pool.reserve(pages: 5)
        #expect(pool.committedPages == 5)
        #expect(throws: PagedFileError.outOfSpace) { try pool.reserve(pages: 4) }
        #expect(pool.committedPages == 5)
        try pool.reserve(pages: 3)
        #expect(pool.availableBytes == 0)
        #expect(throws: PagedFileError.outOfSpace) { try pool.reserve(pages: 1) }
        pool.unreserve(pages: 8)
        #expect(pool.committedPages == 0)
    }

    @Test("rented pages are zero, distinct, and come back zeroed through a retired chain")
    func rentAndRelease() throws {
        let pool = try PagePool(capacityBytes: 16 * 4096, pageBytes: 4096)
        try pool.reserve(pages: 16)
        var pages: [UInt32] = []
        for _ in 0 ..< 16 { pages.append(try #require(pool.tryRent())) }
        #expect(pool.tryRent() == nil, "a full pool has no page to rent")
        #expect(Set(pages).count == 16)
        #expect(pool.rentedPages == 16)
        for page in pages {
            let bytes = UnsafeRawBufferPointer(start: pool.address(of: page), count: 4096)
            #expect(bytes.allSatisfy { $0 == 0 })
            pool.address(of: page).initializeMemory(as: UInt8.self, repeating: 0xAB, count: 4096)
        }
        var chain: UInt32?
        for page in pages { chain = pool.chain(page, before: chain) }
        pool.release(chain: chain, count: 16)
        #expect(pool.rentedPages == 0)
        #expect(pool.committedPages == 0)
        #expect(pool.quiescentFreePageCount() == 16)
        try pool.reserve(pages: 16)
        var again: [UInt32] = []
        for _ in 0 ..< 16 {
            let page = try #require(pool.tryRent())
            again.append(page)
            let bytes = UnsafeRawBufferPointer(start: pool.address(of: page), count: 4096)
            #expect(bytes.allSatisfy { $0 == 0 }, "a reused page must be zero")
        }
        #expect(Set(again) == Set(pages))
        for page in again { pool.returnUnused(page) }
        pool.unreserve(pages: 16)
        #expect(pool.quiescentFreePageCount() == 16)
    }

    @Test("a retired chain in any order goes back on the free list in ascending page order", arguments: [1, 2, 3, 7, 64, 257])
    func releaseSortsTheChain(count: Int) throws {
        let pool = try PagePool(capacityBytes: count * 4096, pageBytes: 4096)
        try pool.reserve(pages: count)
        var pages: [UInt32] = []
        for _ in 0 ..< count { pages.append(try #require(pool.tryRent())) }
        var random = SplitMix64(seed: UInt64(count))
        pages.shuffle(using: &random)
        var chain: UInt32?
        for page in pages { chain = pool.chain(page, before: chain) }
        pool.release(chain: chain, count: count)
        #expect(pool.quiescentFreePageCount() == count)
        try pool.reserve(pages: count)
        var again: [UInt32] = []
        for _ in 0 ..< count { again.append(try #require(pool.tryRent())) }
        #expect(again == pages.sorted(), "pages come back lowest first, each once")
        for page in again.reversed() { pool.returnUnused(page) }
        pool.unreserve(pages: count)
    }

    @Test("a page is cold until released zeroed, and cold again after trim")
    func coldPages() throws {
        let pool = try PagePool(capacityBytes: 4 * 4096, pageBytes: 4096)
        try pool.reserve(pages: 4)
        var rentals: [PagePool.Rental] = []
        for _ in 0 ..< 4 { rentals.append(try #require(pool.tryRentPage())) }
        #expect(rentals.allSatisfy { $0.isCold }, "never-touched pages are cold")
        var chain: UInt32?
        for rental in rentals { chain = pool.chain(rental.page, before: chain) }
        pool.release(chain: chain, count: 4)
        try pool.reserve(pages: 4)
        var warm: [PagePool.Rental] = []
        for _ in 0 ..< 4 { warm.append(try #require(pool.tryRentPage())) }
        #expect(warm.allSatisfy { !$0.isCold }, "released pages were zeroed in place: resident")
        #expect(!warm.contains { UnsafeRawBufferPointer(start: pool.address(of: $0.page), count: 4096).contains { $0 != 0 } })
        for rental in warm { pool.returnUnused(rental.page) }
        pool.trim()
        var trimmed: [PagePool.Rental] = []
        for _ in 0 ..< 4 { trimmed.append(try #require(pool.tryRentPage())) }
        #expect(trimmed.allSatisfy { $0.isCold }, "trimmed pages went back to the kernel")
        for rental in trimmed { pool.returnUnused(rental.page) }
        pool.unreserve(pages: 4)
    }

    @Test("trim keeps free pages in the pool and reading as zeros")
    func trim() throws {
        let pool = try PagePool(capacityBytes: 8 * 65536)
        let file = try PagedFile(pool: pool)
        try file.write(at: 0, bytes: [UInt8](repeating: 7, count: 8 * 65536))
        try file.setLength(0)
        pool.trim()
        #expect(pool.quiescentFreePageCount() == 8)
        #expect(pool.rentedPages == 0)
        try file.setLength(8 * 65536)
        try file.write(at: 65536 * 3 + 5, bytes: [1])
        let back = try file.read(at: 0, count: 8 * 65536)
        #expect(back.count == 8 * 65536)
        #expect(back.enumerated().allSatisfy { $0.offset == 65536 * 3 + 5 ? $0.element == 1 : $0.element == 0 })
        file.close()
    }

    @Test("the sharded free list hands out each page once under concurrent rent and return")
    func concurrentRentReturn() throws {
        let pool = try PagePool(capacityBytes: 256 * 4096, pageBytes: 4096)
        try pool.reserve(pages: 256)
        let failures = Failures()
        let threadCount = 4
        let rounds = longMode ? 20_000 : 2_000
        runThreads(threadCount) { t in
            var mine: [UInt32] = []
            var random = SplitMix64(seed: UInt64(t) + 1)
            for _ in 0 ..< rounds {
                if mine.count < 64, random.next() % 2 == 0 {
                    guard let page = pool.tryRent() else {
                        failures.record("no page although 256 are reserved for 4 x 64")
                        return
                    }
                    // Ownership check: the page's first word must be ours to set.
                    let word = pool.address(of: page).assumingMemoryBound(to: UInt64.self)
                    if word.pointee != 0 { failures.record("page \(page) rented while in use") }
                    word.pointee = UInt64(t) + 1
                    mine.append(page)
                } else if let page = mine.popLast() {
                    pool.address(of: page).assumingMemoryBound(to: UInt64.self).pointee = 0
                    pool.returnUnused(page)
                }
            }
            for page in mine {
                pool.address(of: page).assumingMemoryBound(to: UInt64.self).pointee = 0
                pool.returnUnused(page)
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
        #expect(pool.rentedPages == 0)
        #expect(pool.quiescentFreePageCount() == 256)
        pool.unreserve(pages: 256)
    }
}
