import Journal

/// The page translation table: for each page, the committed versions not
/// yet applied to the data file, oldest first (state `versions[p]` of the
/// protocol in PageStore.swift). A version names its journal record and
/// the image's offset in it, and holds an in-memory copy of the image while
/// its record is not durable, and after that while the copies fit in the
/// store's image budget. A version whose record carries a delta has no
/// image in the journal: it keeps its copy until it is applied.
///
/// A value type without locking of its own: the store keeps it behind its
/// table lock, and its rules are testable without a journal.
struct PageTable {
    /// One committed version of a page.
    struct Version: Equatable {
        var lsn: LSN
        /// Offset of the page image in the transaction record; nil when the
        /// record carries a delta (the copy is then kept until applied).
        var offset: Int?
        /// The image, while the table keeps an in-memory copy (S3).
        var image: [UInt8]?
    }

    let pageBytes: Int
    private(set) var versions: [UInt64: [Version]] = [:]
    /// Versions in `versions`, all pages together.
    private(set) var versionCount = 0
    /// Bytes of the in-memory copies held by versions.
    private(set) var imageBytes = 0
    /// Commits whose versions may still hold in-memory copies, oldest first;
    /// entries before `pendingHead` are done.
    private var pending: [(lsn: LSN, pages: [UInt64])] = []
    private var pendingHead = 0
    /// `pending` is compacted once this many entries are done and they are
    /// more than half of it (amortized: no copy per commit).
    static let pendingCompactionCount = 1024

    init(pageBytes: Int) {
        self.pageBytes = pageBytes
    }

    /// The newest version of `page` at or below `lsn` (S2), or nil: the
    /// data file holds the page as of `lsn`.
    func version(of page: UInt64, at lsn: LSN) -> Version? {
        versions[page]?.last(where: { $0.lsn <= lsn })
    }

    /// The LSN of the newest version of `page`, if the table holds one (C1).
    func newestLSN(of page: UInt64) -> LSN? {
        versions[page]?.last?.lsn
    }

    /// C3: adds the pages of the commit at `lsn`, each with its in-memory
    /// copy and its image's offset in the record (nil: a delta).
    mutating func publish(lsn: LSN, pages: [(number: UInt64, image: [UInt8], offset: Int?)]) {
        for page in pages {
            assert(page.image.count == pageBytes, "whole pages only")
            assert((versions[page.number]?.last?.lsn ?? 0) < lsn, "versions of a page are in LSN order")
            versions[page.number, default: []].append(Version(lsn: lsn, offset: page.offset, image: page.image))
        }
        versionCount += pages.count
        imageBytes += pages.count * pageBytes
        pending.append((lsn, pages.map(\.number)))
    }

    /// S3: while the in-memory copies exceed `budgetBytes`, the oldest
    /// versions whose records are durable (at or below `durable`) drop
    /// theirs (they are then read through the journal's mapping). Entries
    /// of applied commits (at or below `applied`) are passed over: their
    /// versions are gone.
    mutating func dropDurableCopies(durable: LSN, applied: LSN, budgetBytes: Int) {
        while pendingHead < pending.count {
            let (lsn, pages) = pending[pendingHead]
            if lsn > applied {
                guard lsn <= durable, imageBytes > budgetBytes else { break }
                for page in pages { dropCopy(of: page, at: lsn) }
            }
            pendingHead += 1
        }
        if pendingHead > Self.pendingCompactionCount && pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    private mutating func dropCopy(of page: UInt64, at lsn: LSN) {
        guard var list = versions[page], let i = list.lastIndex(where: { $0.lsn == lsn }) else { return }
        // A delta's version has no image in the journal: its copy stays (S3).
        guard list[i].offset != nil else { return }
        versions[page] = nil  // unique reference: no copy on write
        if list[i].image != nil { imageBytes -= pageBytes }
        list[i].image = nil
        versions[page] = list
    }

    /// A2: each page's newest version at or below `horizon`: what an apply
    /// copies into the data file.
    func versionsToApply(horizon: LSN) -> [(page: UInt64, version: Version)] {
        var work: [(page: UInt64, version: Version)] = []
        for (page, list) in versions {
            if let v = list.last(where: { $0.lsn <= horizon }) { work.append((page, v)) }
        }
        return work
    }

    /// A3: drops each applied version and every older one of its page.
    mutating func removeApplied(_ work: [(page: UInt64, version: Version)]) {
        for item in work {
            guard var list = versions[item.page] else { preconditionFailure("a version being applied stays in the table") }
            versions[item.page] = nil  // unique reference: no copy on write
            let before = list.count
            let imagesBefore = list.count { $0.image != nil }
            list.removeAll { $0.lsn <= item.version.lsn }
            versionCount -= before - list.count
            imageBytes -= (imagesBefore - list.count { $0.image != nil }) * pageBytes
            if !list.isEmpty { versions[item.page] = list }
        }
        assert(imageBytes >= 0)
    }

    /// S1: every version is above `lsn`.
    func allVersions(above lsn: LSN) -> Bool {
        versions.values.allSatisfy { $0.allSatisfy { $0.lsn > lsn } }
    }
}
