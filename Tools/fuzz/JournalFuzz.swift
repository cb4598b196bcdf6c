// libFuzzer target over the journal's readers: metadata and segment header
// decoding, the record decoder, recovery in its three modes, and reading
// (sequential and random access).
//
// Whatever the bytes, every call must return or throw a `JournalError`: a
// trap, a crash, a hang or an allocation out of proportion to the input is a
// bug. Built and run by `run.sh` (see README.md).
//
// Input format (every field optional: a short input is padded with zeros):
//
//   byte 0      flags: bit 0 raw metadata, bit 1 repair checksums,
//               bit 2 relink the fragment chain (with bit 1),
//               bit 3 size files by their contents instead of segmentBytes
//   byte 1      block size: 512 << (b % 4)
//   byte 2      page size: max(4096 << (b % 3), block size)
//   byte 3      segment size: page size * (1 + b % 16)
//   byte 4      segment count limit: 0 when b < 2, else b
//   bytes 5-6   record size limit (LE): 0 the most a segment holds, else
//               min(v * 16, that)
//   (bit 0)     128 bytes of `journal.meta` taken as they are
//   then up to 6 files, each: 1 name byte, a 3-byte LE length, the bytes.
//               Name byte < 0xF0: segment with index (byte % 16); 0xF0-0xF7:
//               `spare-<n>.seg`; 0xF8-0xFE: `<n>.seg.tmp`; 0xFF:
//               `journal.meta.new`. A file is zero-padded (or cut) to the
//               segment size.
//
// With "repair checksums" the harness recomputes the metadata checksum (raw
// metadata), each segment header's checksum, and along the writer's layout
// every fragment's payload and header checksums, so that mutations of LSNs,
// epochs, lengths, types and committed LSNs reach the logic behind the
// checksums instead of stopping at them. Every epoch a checksum could make
// valid is kept below 4096, with repair or without (`sealEpochs`): a valid
// epoch near 2^32 makes recovery tabulate 2^20 derived-salt candidates per
// file (section 7.4's bound), which the unit tests and the conformance
// corpus cover; repeated for every input it would cost most of the run.
// For the same reason segment indices stay below 16, so that the tables
// recovery keeps serve the next inputs, and raw metadata keeps the seeds'
// journal ID.

import CJournalShims
import Journal
import JournalStorage
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The journal ID every seed and every synthesized metadata file uses.
let fuzzJournalID: UInt64 = 0x5A55_465F_4C4E_4A53

struct FuzzInput {
    var flags: UInt8 = 0
    var blockBytes = 4096
    var pageBytes = 4096
    var segmentBytes = 4096
    var segmentCountMax = 0
    var recordBytesMax = 0
    var rawMetadata: [UInt8] = []
    var files: [(name: String, bytes: ArraySlice<UInt8>)] = []

    var rawMeta: Bool { flags & 1 != 0 }
    var repair: Bool { flags & 2 != 0 }
    var relink: Bool { flags & 4 != 0 }
    var sizeByContents: Bool { flags & 8 != 0 }

    static let maxFiles = 6

    init(_ data: UnsafeRawBufferPointer) {
        var cursor = 0
        func byte() -> UInt8 {
            defer { cursor += 1 }
            return cursor < data.count ? data[cursor] : 0
        }
        flags = byte()
        blockBytes = 512 << Int(byte() % 4)
        pageBytes = max(4096 << Int(byte() % 3), blockBytes)
        segmentBytes = pageBytes * (1 + Int(byte() % 16))
        let count = Int(byte())
        segmentCountMax = count < 2 ? 0 : count
        let limit = Int(byte()) | Int(byte()) << 8
        let most = Self.largestRecord(pageBytes: pageBytes, segmentBytes: segmentBytes)
        recordBytesMax = limit == 0 ? most : min(limit * 16, most)
        if rawMeta {
            let end = min(cursor + 128, data.count)
            rawMetadata = cursor < end ? Array(data[cursor..<end]) : []
            cursor += 128
        }
        let bytes = Array(data)
        while cursor < data.count && files.count < Self.maxFiles {
            let code = byte()
            let length = Int(byte()) | Int(byte()) << 8 | Int(byte()) << 16
            let start = min(cursor, bytes.count)
            let end = min(start + length, bytes.count)
            cursor = end
            let name: String
            switch code {
            case 0..<0xF0: name = JournalFormat.segmentFileName(index: UInt64(code % 16))
            case 0xF0..<0xF8: name = JournalFormat.spareFilePrefix + "\(code & 7)" + JournalFormat.segmentFileSuffix
            case 0xF8..<0xFF: name = "\(code & 7).seg.tmp"
            default: name = JournalFormat.metadataFileName + ".new"
            }
            if files.contains(where: { $0.name == name }) { continue }
            files.append((name, bytes[start..<end]))
        }
    }

    /// The largest payload that fits in an empty segment (the format's
    /// limit for `recordBytesMax`).
    static func largestRecord(pageBytes: Int, segmentBytes: Int) -> Int {
        let pages = segmentBytes / pageBytes
        return (pageBytes - 128 - 40) + (pages - 1) * (pageBytes - 40)
    }

    /// The 4096 bytes of `journal.meta`.
    func metadataFile() -> [UInt8] {
        var meta = [UInt8](repeating: 0, count: 4096)
        if rawMeta {
            meta.replaceSubrange(0..<rawMetadata.count, with: rawMetadata)
            // The journal ID stays the seeds', however short the raw bytes
            // (see the top of this file).
            meta.storeLE64(fuzzJournalID, at: 16)
        } else {
            meta.replaceSubrange(0..<8, with: Array("SWJNLMTA".utf8))
            meta.storeLE32(1, at: 8)
            meta.storeLE64(fuzzJournalID, at: 16)
            meta.storeLE64(UInt64(segmentBytes), at: 24)
            meta.storeLE32(UInt32(segmentCountMax), at: 32)
            meta.storeLE32(UInt32(recordBytesMax), at: 36)
            meta.storeLE32(UInt32(blockBytes), at: 40)
            meta.storeLE32(UInt32(pageBytes), at: 44)
        }
        if !rawMeta || repair {
            meta.storeLE32(crc32c(meta[0..<124]), at: 124)
        }
        return meta
    }

    /// The bytes of one file as it goes into the directory.
    func fileContents(_ index: Int) -> [UInt8] {
        let source = files[index].bytes
        let size = sizeByContents ? roundUp(source.count, 512) : segmentBytes
        var bytes = [UInt8](repeating: 0, count: size)
        let n = min(size, source.count)
        bytes.replaceSubrange(0..<n, with: source.prefix(n))
        guard files[index].name.hasSuffix(JournalFormat.segmentFileSuffix) else { return bytes }
        sealEpochs(&bytes)
        if repair {
            repairChecksums(&bytes, fallbackPageBytes: pageBytes, fallbackBlockBytes: blockBytes, relink: relink)
        }
        return bytes
    }
}

/// Recomputes the checksums of a segment along the writer's layout: the
/// header's, then each fragment's payload and header checksums (and, with
/// `relink`, each fragment's link to the one before).
func repairChecksums(_ bytes: inout [UInt8], fallbackPageBytes: Int, fallbackBlockBytes: Int, relink: Bool) {
    guard bytes.count >= 128, bytes[0..<8].elementsEqual("SWJNLSEG".utf8) else { return }
    bytes.storeLE32(bytes.le32(48) % epochsSealedMax, at: 48)
    let headerCRC = crc32c(bytes[0..<124])
    bytes.storeLE32(headerCRC, at: 124)
    let salt = bytes.le64(40)
    let seed = withUnsafeBytes(of: salt.littleEndian) { cjournal_crc32c(0, $0.baseAddress, $0.count) }
    func sane(_ v: Int, _ range: ClosedRange<Int>, _ fallback: Int) -> Int {
        v & (v - 1) == 0 && range.contains(v) ? v : fallback
    }
    let pageBytes = sane(Int(bytes.le32(56)), 4096...(1 << 24), fallbackPageBytes)
    let blockBytes = min(sane(Int(bytes.le32(52)), 512...(1 << 20), fallbackBlockBytes), pageBytes)
    var previous = headerCRC
    var p = 128
    while true {
        // The placement rule of journal-format.md 5.1.
        var q = roundUp(p, 8)
        let pageEnd = (q / pageBytes) * pageBytes + pageBytes
        if pageEnd - q <= 40 { q = pageEnd }
        guard q + 40 <= bytes.count else { return }
        guard (1...4).contains(bytes[q + 32]) else {
            // Not a fragment: padding, or the gap before the next batch.
            p = roundUp(q + 1, blockBytes)
            continue
        }
        let room = (q / pageBytes) * pageBytes + pageBytes - q - 40
        let length = min(Int(bytes.le32(q + 12)), room, bytes.count - q - 40)
        bytes.storeLE32(crc32c(bytes[(q + 40)..<(q + 40 + length)]), at: q + 4)
        if relink { bytes.storeLE32(previous, at: q + 8) }
        bytes.storeLE32(bytes.le32(q + 36) % epochsSealedMax, at: q + 36)
        let crc = bytes[(q + 4)..<(q + 40)].withUnsafeBytes { cjournal_crc32c(seed, $0.baseAddress, $0.count) }
        bytes.storeLE32(crc, at: q)
        previous = crc
        p = q + 40 + length
    }
}

/// Repair keeps the epochs it seals below this (see the top of this file).
let epochsSealedMax: UInt32 = 4096

/// Keeps every epoch that a checksum could make valid below
/// `epochsSealedMax`, whatever the flags: the segment header's, and that
/// of every header of a fragment wherever one could validate (multiples of
/// 8 from offset 128, type 1-4, flag and reserved bytes zero; no other
/// bytes are ever checked as a fragment header). Repair's layout walk
/// misses fragments off the writer's layout, and an input without repair
/// can still carry a valid checksum over a raised epoch: the fuzzer traces
/// the journal's comparisons and copies a computed checksum into place.
/// Either would raise the highest epoch recovery verifies far above 4096,
/// and with it the derived-salt search to 2^20 candidates per file, a new
/// table for every such input. Epochs below the bound stay as they are, so
/// the seeds keep their bytes.
func sealEpochs(_ bytes: inout [UInt8]) {
    if bytes.count >= 128, bytes[0..<8].elementsEqual("SWJNLSEG".utf8) {
        let epoch = bytes.le32(48)
        if epoch >= epochsSealedMax { bytes.storeLE32(epoch % epochsSealedMax, at: 48) }
    }
    var q = 128
    while q + 40 <= bytes.count {
        if (1...4).contains(bytes[q + 32]) && bytes[q + 33] == 0 && bytes[q + 34] == 0 && bytes[q + 35] == 0 {
            let epoch = bytes.le32(q + 36)
            if epoch >= epochsSealedMax { bytes.storeLE32(epoch % epochsSealedMax, at: q + 36) }
        }
        q += 8
    }
}

// MARK: - The target

/// Lays the input out as a journal directory in memory,
/// then recovers and reads it in each recovery mode.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    let input = FuzzInput(data)
    let storage = MemoryDirectory()
    storage.put(JournalFormat.metadataFileName, input.metadataFile())
    for i in input.files.indices {
        storage.put(input.files[i].name, input.fileContents(i))
    }
    for mode in RecoveryMode.allCases {
        readEverything(storage, mode)
    }
}

/// Every read a user can make; errors are fine, traps are not.
func readEverything(_ storage: MemoryDirectory, _ mode: RecoveryMode) {
    let journal: Journal
    do {
        journal = try Journal.openForReading(storage: storage, recovery: mode)
    } catch {
        if verbose { say("\(mode.rawValue): \(error)") }
        return
    }
    if verbose {
        let segments = journal.segmentSummaries.map { "\($0.name) LSN \($0.baseLSN)...\($0.lastLSN)" }
        say("\(mode.rawValue): opened: \(journal.recoveryReport), LSN \(journal.oldestLSN)...\(journal.durableLSN); segments: \(segments)")
    }
    var checksum: UInt32 = 0
    var count = 0
    var previous: LSN = 0
    // Ranges to read: everything, unless a known bug is to be stepped
    // around.
    var ranges: [(from: LSN, through: LSN?)] = [(0, nil)]
    let stepAround = avoidKnownHang && crossesSegmentGap(journal)
    // Known bug 2: a record with LSN UInt64.max traps in `forEachRecord`
    // (next LSN overflows).
    if avoidKnownOverflow && journal.durableLSN == .max { return }
    if stepAround {
        ranges = journal.segmentSummaries.map { ($0.baseLSN, $0.lastLSN) }
    }
    do {
        for range in ranges {
        try journal.forEachRecord(from: range.from, through: range.through) { lsn, payload in
            // LSNs increase; salvage may skip some.
            if lsn <= previous { fatalError("forEachRecord went from LSN \(previous) to \(lsn)") }
            if verbose && count < 50 { say("  record \(lsn): \(payload.count) bytes") }
            previous = lsn
            checksum = cjournal_crc32c(checksum, payload.baseAddress, payload.count)
            count += 1
            return count < 100_000
        }
        }
    } catch {}
    // Random access through the sparse index: both ends and the middle.
    let first = journal.oldestLSN
    let last = journal.durableLSN
    if first <= last {
        for lsn in [first, first + (last - first) / 2, last, last &+ 1] {
            _ = try? journal.record(at: lsn)
        }
        if !stepAround { _ = try? journal.records(from: last) }
    }
    blackHole(checksum)
    if verbose { say("\(mode.rawValue): \(journal.recoveryReport); read \(count) records, LSN \(first)...\(last)") }
    _ = journal.segmentSummaries
    _ = journal.recoveryReport.description
}

/// `JOURNAL_FUZZ_VERBOSE=1`: print what each mode found (to check seeds).
nonisolated(unsafe) var verbose = false

/// `JOURNAL_FUZZ_AVOID_KNOWN=1,2`: step around known bugs 1 and 2
/// (README.md), to keep fuzzing past them until they are fixed.
nonisolated(unsafe) var avoidKnownHang = false
nonisolated(unsafe) var avoidKnownOverflow = false

/// Known bug 1: when the segment that `forEachRecord` picks for an LSN by
/// its header's base LSN does not hold it (a salvage gap that ends in a
/// later segment; a salvaged segment whose records are below its header's
/// base LSN), `forEachRecord` never returns. Such a journal's segments do
/// not follow each other: read it segment by segment.
func crossesSegmentGap(_ journal: Journal) -> Bool {
    let segments = journal.segmentSummaries
    return segments.contains { $0.baseLSN > $0.lastLSN }
        || zip(segments, segments.dropFirst()).contains { $1.baseLSN != $0.lastLSN &+ 1 }
}

/// Prints a line unbuffered (a hung run still shows how far it got).
func say(_ line: String) {
    let text = line + "\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count - 1) }
}

@inline(never)
func blackHole(_ value: UInt32) {
    withExtendedLifetime(value) {}
}

@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func LLVMFuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    // The journal logs to stdout by default: silence it.
    LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
    verbose = getenv("JOURNAL_FUZZ_VERBOSE") != nil
    let avoid = getenv("JOURNAL_FUZZ_AVOID_KNOWN").map { String(cString: $0) } ?? ""
    avoidKnownHang = avoid.contains("1")
    avoidKnownOverflow = avoid.contains("2")
    // `JOURNAL_FUZZ_WRITE_SEEDS=<dir>`: write the seed corpus and exit.
    if let dir = getenv("JOURNAL_FUZZ_WRITE_SEEDS") {
        do {
            let count = try writeSeeds(to: String(cString: dir))
            print("wrote \(count) seeds to \(String(cString: dir))")
            exit(0)
        } catch {
            print("writing seeds failed: \(error)")
            exit(1)
        }
    }
    return 0
}

// MARK: - Helpers

func crc32c(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    bytes.withUnsafeBytes { cjournal_crc32c(0, $0.baseAddress, $0.count) }
}

func roundUp(_ value: Int, _ multiple: Int) -> Int {
    (value + multiple - 1) / multiple * multiple
}

extension Array where Element == UInt8 {
    func le32(_ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(self[offset + $1]) << (8 * $1) }
    }

    func le64(_ offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(self[offset + $1]) << (8 * $1) }
    }

    mutating func storeLE32(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    mutating func storeLE64(_ value: UInt64, at offset: Int) {
        for i in 0..<8 { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
}
