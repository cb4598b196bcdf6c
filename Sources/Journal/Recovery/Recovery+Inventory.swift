import JournalPrimitives
import JournalStorage

// Phase 1: the files of the journal's directory in index order, each with
// the state of its header (journal-format.md, section 7, rule 1).

/// What a segment file's header says about the file.
enum SegmentHeaderState {
    case active(SegmentHeader, crc: UInt32)
    /// A valid header naming another index: a reused file not yet
    /// activated. Its fragments belong to another salt.
    case stale(epoch: UInt32)
    /// No magic: zeros (never written) or a damaged header.
    case blank
    /// Magic present but the checksum fails (a torn activation, or damage),
    /// or, in salvage mode only, a valid checksum over fields this version
    /// does not accept (journal-format.md, section 4: *invalid*).
    case damaged

    /// A file whose header cannot be used, but whose fragments might be
    /// found with the salt derived for its index: a stale header can be
    /// left in place when the write that activated the file went astray.
    var mayHideData: Bool {
        switch self {
        case .blank, .damaged, .stale: true
        case .active: false
        }
    }
}

/// The directory as recovery found it.
struct SegmentInventory {
    /// Segment files, mapped, in index order.
    var files: [Segment]
    /// The state of each file's header, index for index with `files`.
    var states: [SegmentHeaderState]
    /// `spare-*.seg` files.
    var spareNames: [String]
    /// Files recovery leaves alone (temporary files of an interrupted create).
    var leftoverNames: [String]
    /// Segment files of the wrong size that salvage set aside unread
    /// (journal-format.md, section 2): not part of the log, never reused.
    var setAsideNames: [String] = []
    /// The highest index of any segment file, set aside or not, so that a
    /// writer never gives a set-aside file's name to a new segment.
    var highestIndex: UInt64
    /// The highest epoch in any checksum-valid header of this journal (active
    /// or stale): bounds the derived-salt search (`DerivedSaltSearch`).
    var headerEpochMax: UInt32 = 0
}

extension Recovery {
    /// Lists the directory, opens and maps every segment file and
    /// classifies its header.
    func takeInventory() throws(JournalError) -> SegmentInventory {
        let names: [String]
        do { names = try storage.fileNames() } catch { throw JournalError.from(error) }
        var indexed: [(UInt64, String)] = []
        var inventory = SegmentInventory(files: [], states: [], spareNames: [], leftoverNames: [], highestIndex: 0)
        for name in names {
            if name == JournalFormat.metadataFileName { continue }
            if let index = JournalFormat.segmentIndex(fileName: name) {
                indexed.append((index, name))
            } else if name.hasPrefix(JournalFormat.spareFilePrefix) && name.hasSuffix(JournalFormat.segmentFileSuffix) {
                inventory.spareNames.append(name)
            } else {
                inventory.leftoverNames.append(name)
            }
        }
        indexed.sort { $0.0 < $1.0 }
        for (index, name) in indexed {
            guard let segment = try openListedSegment(index: index, name: name) else { continue }
            if segment.bytes.count != metadata.segmentBytes {
                if following {
                    // Not one this follower can judge: skipped.
                    segment.file.close()
                    continue
                }
                // No crash of a writer makes one; outside salvage it is an
                // error, in salvage the file is set aside unread.
                guard mode == .salvage else {
                    throw .corruption(segment: name, offset: 0, detail: "file is \(segment.bytes.count) bytes, segments are \(metadata.segmentBytes)")
                }
                segment.file.close()
                inventory.setAsideNames.append(name)
                continue
            }
            inventory.files.append(segment)
            let state = try classify(segment)
            switch state {
            case .active(let header, _): inventory.headerEpochMax = max(inventory.headerEpochMax, header.epoch)
            case .stale(let epoch): inventory.headerEpochMax = max(inventory.headerEpochMax, epoch)
            case .blank, .damaged: break
            }
            inventory.states.append(state)
        }
        inventory.highestIndex = indexed.last?.0 ?? 0
        assert(inventory.files.count == inventory.states.count)
        return inventory
    }

    /// Opens and maps a listed segment file. Nil for a follower when the
    /// file is gone: its writer released it since the listing.
    private func openListedSegment(index: UInt64, name: String) throws(JournalError) -> Segment? {
        do {
            let file = writable ? try storage.open(name) : try storage.openReadOnly(name)
            return Segment(index: index, file: file, mapping: try file.mapReadOnly())
        } catch {
            if following && error.errno == .noSuchFileOrDirectory { return nil }
            throw JournalError.from(error)
        }
    }

    private func classify(_ segment: Segment) throws(JournalError) -> SegmentHeaderState {
        let bytes = segment.bytes
        assert(bytes.count == metadata.segmentBytes, "files of the wrong size are set aside before they are classified")
        do {
            let (header, crc) = try SegmentHeader.decode(bytes)
            guard header.journalID == metadata.journalID else {
                throw JournalError.corruption(segment: segment.name, offset: 0, detail: "segment belongs to another journal")
            }
            guard header.segmentIndex == segment.index else { return .stale(epoch: header.epoch) }
            guard header.blockBytes == metadata.blockBytes, header.pageBytes == metadata.pageBytes else {
                return try invalid(segment, "block or page size differs from the journal's")
            }
            return .active(header, crc: crc)
        } catch let problem as HeaderProblem {
            switch problem {
            case .badMagic: return .blank
            case .invalidField(let field): return try invalid(segment, field)
            case .badChecksum: return .damaged
            case .newerVersion(let v): throw .newerFormat(path: storage.path + "/" + segment.name, found: v, supported: JournalFormat.version)
            }
        } catch let error as JournalError {
            throw error
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
    }

    /// A header whose checksum holds but whose fields this version does
    /// not accept: no torn write or stray bit makes one, so it is an error,
    /// except that salvage treats the header as damaged and reads on.
    private func invalid(_ segment: Segment, _ detail: String) throws(JournalError) -> SegmentHeaderState {
        guard mode == .salvage else {
            throw .corruption(segment: segment.name, offset: 0, detail: "segment header: \(detail)")
        }
        return .damaged
    }
}
