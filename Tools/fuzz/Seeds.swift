// The seed corpus: valid journals written by the journal itself on a
// memory directory, in the fuzz input format (JournalFuzz.swift), plus a few
// damaged ones. Written at run time (`JOURNAL_FUZZ_WRITE_SEEDS=<dir>`), so
// the repository holds no binary seeds.

@_spi(Testing) import Journal
import JournalStorage

#if canImport(Glibc)
import Glibc
#endif

struct SeedConfig {
    var blockShift = 0  // 512 << blockShift
    var pageShift = 0  // 4096 << pageShift
    var segmentPages = 8
    var segmentCountMax = 0
    var recordBytesMax = 0  // 0: the most a segment holds; else a multiple of 16

    var configuration: JournalConfiguration {
        var c = JournalConfiguration()
        c.blockBytes = 512 << blockShift
        c.pageBytes = 4096 << pageShift
        c.segmentBytes = c.pageBytes * segmentPages
        c.segmentCountMax = segmentCountMax
        c.recordBytesMax = recordBytesMax == 0
            ? FuzzInput.largestRecord(pageBytes: c.pageBytes, segmentBytes: c.segmentBytes) : recordBytesMax
        return c
    }

    /// The fuzz input's parameter bytes (bytes 1-6).
    var parameterBytes: [UInt8] {
        let limit = recordBytesMax / 16
        return [UInt8(blockShift), UInt8(pageShift), UInt8(segmentPages - 1), UInt8(segmentCountMax),
                UInt8(limit & 0xFF), UInt8(limit >> 8)]
    }
}

/// A journal being written in memory, one writer session at a time.
final class SeedJournal {
    let config: SeedConfig
    let directory = MemoryDirectory()
    var journal: Journal?

    init(_ config: SeedConfig) throws {
        self.config = config
        try Journal.create(storage: directory, configuration: config.configuration, journalID: fuzzJournalID)
    }

    func open() throws -> Journal {
        if let journal { return journal }
        var options = JournalOptions()
        options.runtime = .manual
        options.batchBytesMax = 4096
        let j = try Journal.open(storage: directory, options: options)
        journal = j
        return j
    }

    /// Appends each record and waits for it: one batch per record.
    func appendEach(_ payloads: [[UInt8]]) throws {
        let j = try open()
        for p in payloads { _ = try j.appendBlocking(p) }
    }

    /// Enqueues all, then waits: records share batches.
    func appendGrouped(_ payloads: [[UInt8]]) throws {
        let j = try open()
        var last: LSN = 0
        for p in payloads { last = try j.enqueue(p) }
        try j.waitUntilDurableBlocking(last)
    }

    func close() {
        journal?.close()
        journal = nil
    }

    /// The directory as a fuzz input.
    func input(flags: UInt8 = 0, damage: (inout [String: [UInt8]]) -> Void = { _ in }) -> [UInt8] {
        close()
        var image = directory.image()
        damage(&image)
        var out: [UInt8] = [flags] + config.parameterBytes
        for name in image.keys.sorted() {
            let code: UInt8
            if let index = JournalFormat.segmentIndex(fileName: name), index < 0xF0 {
                code = UInt8(index)
            } else if name.hasPrefix(JournalFormat.spareFilePrefix), let n = Int(name.dropFirst(6).prefix(while: \.isNumber)) {
                code = 0xF0 + UInt8(n & 7)
            } else {
                continue
            }
            var bytes = image[name]!
            while let last = bytes.last, last == 0 { bytes.removeLast() }
            let n = bytes.count
            out += [code, UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF)] + bytes
        }
        return out
    }
}

func payload(_ n: Int, bytes: Int) -> [UInt8] {
    (0..<bytes).map { UInt8(truncatingIfNeeded: n &* 31 &+ $0 &* 7) }
}

/// The offset of the fragment holding LSN `lsn` in a segment image (the
/// first header whose LSN field matches, at a fragment start).
func fragmentOffset(_ bytes: [UInt8], lsn: LSN) -> Int? {
    var p = 128
    while p + 40 <= bytes.count {
        if (1...4).contains(bytes[p + 32]) && bytes.le64(p + 16) == lsn { return p }
        p += 8
    }
    return nil
}

/// Writes the seeds; returns how many.
func writeSeeds(to directory: String) throws -> Int {
    mkdir(directory, 0o755)
    var seeds: [(String, [UInt8])] = []

    // An empty journal: metadata only.
    let empty = try SeedJournal(SeedConfig())
    seeds.append(("empty", empty.input()))

    // Several small records, one batch each, then the same grouped.
    let small = try SeedJournal(SeedConfig(segmentPages: 4))
    try small.appendEach((1...6).map { payload($0, bytes: 5 + $0 * 13) })
    try small.appendGrouped((7...20).map { payload($0, bytes: $0 % 3 == 0 ? 0 : 40 + $0) })
    seeds.append(("small", small.input()))
    seeds.append(("small-repair", small.input(flags: 2)))
    seeds.append(("small-relink", small.input(flags: 6)))

    // A torn tail: the last record's payload damaged.
    seeds.append(("torn-tail", small.input { image in
        let name = JournalFormat.segmentFileName(index: 1)
        if var seg = image[name], let p = fragmentOffset(seg, lsn: 20) {
            seg[p + 40] ^= 0xFF
            image[name] = seg
        }
    }))
    // Corruption: a record in the middle damaged, acknowledged records after.
    seeds.append(("corrupt-middle", small.input { image in
        let name = JournalFormat.segmentFileName(index: 1)
        if var seg = image[name], let p = fragmentOffset(seg, lsn: 3) {
            seg[p + 40] ^= 0x01
            image[name] = seg
        }
    }))

    // Multi-page records (page 4 KiB; records up to 3 pages), small blocks,
    // and a record size limit.
    var multiConfig = SeedConfig(blockShift: 0, pageShift: 0, segmentPages: 16)
    multiConfig.recordBytesMax = 16 * 1024
    let multi = try SeedJournal(multiConfig)
    try multi.appendEach([payload(1, bytes: 100), payload(2, bytes: 9000), payload(3, bytes: 4056), payload(4, bytes: 12000)])
    try multi.appendGrouped([payload(5, bytes: 5000), payload(6, bytes: 7), payload(7, bytes: 8191)])
    seeds.append(("multi-page", multi.input()))
    seeds.append(("multi-page-repair", multi.input(flags: 2)))

    // Two segments and more: rollover, then a second writer session, then a
    // truncation that leaves a spare.
    var rollConfig = SeedConfig(blockShift: 1, pageShift: 0, segmentPages: 4)
    rollConfig.segmentCountMax = 6
    let roll = try SeedJournal(rollConfig)
    try roll.appendEach((1...14).map { payload($0, bytes: 600 + $0 * 50) })
    seeds.append(("two-segments", roll.input()))
    // The second segment's header damaged: the log ends in the first.
    seeds.append(("damaged-segment-header", roll.input { image in
        let name = JournalFormat.segmentFileName(index: 2)
        if var seg = image[name], seg.count > 64 {
            seg[60] ^= 0x10
            image[name] = seg
        }
    }))
    try roll.appendGrouped((15...30).map { payload($0, bytes: 300) })
    seeds.append(("second-session", roll.input()))
    seeds.append(("second-session-repair", roll.input(flags: 6)))
    _ = try roll.open().truncate(before: 20)
    try roll.appendEach([payload(31, bytes: 2000)])
    seeds.append(("truncated", roll.input()))
    // Larger pages and blocks, a raw (but valid) metadata file.
    let big = try SeedJournal(SeedConfig(blockShift: 3, pageShift: 2, segmentPages: 2))
    try big.appendEach([payload(1, bytes: 20000), payload(2, bytes: 1), payload(3, bytes: 16000)])
    seeds.append(("big-pages", big.input()))
    var raw = big.input(flags: 1)
    let meta = big.directory.image()[JournalFormat.metadataFileName] ?? []
    raw.insert(contentsOf: meta.prefix(128), at: 7)
    seeds.append(("raw-metadata", raw))

    for (name, bytes) in seeds {
        let path = directory + "/seed-" + name
        guard let f = fopen(path, "wb") else { throw SeedError.cannotWrite(path) }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }
    return seeds.count
}

enum SeedError: Error {
    case cannotWrite(String)
}
