import PageStore

// The B+tree (Docs/page-store.md, "Key-value store"; page formats in
// Node.swift).
//
// Limits: a key of at most `keyBytesMax` bytes; key plus value of at most
// `entryBytesMax` bytes (a quarter page less the entry header), so a split
// always leaves both halves within a page.
//
// Node sizes (`TreeWriter.rebalance`): after every change, bottom-up, a node
// over a page splits; a non-root node under a quarter page
// (`underfullBytes`) merges with a sibling when both fit in one page, else
// the two share their entries evenly; an internal root left with one child
// is replaced by it. Pages a merge or collapse frees go on a free list
// (chained through the free pages, head in the meta page) that allocations
// take from first; all of it inside the writing transaction, so a crash
// never loses or leaks a page.

/// Modifies the tree inside one write transaction; changed nodes are
/// encoded once, at `flush`.
struct TreeWriter {
    let tx: WriteTransaction
    let pageBytes: Int
    var meta = Meta(root: 1, nextPage: 2, count: 0)
    var dirty: [UInt64: Node] = [:]
    var metaDirty = false
    /// Decoded pages of the state the transaction started from.
    let cache: NodeCache

    init(tx: WriteTransaction, pageBytes: Int, cache: NodeCache) {
        self.tx = tx
        self.pageBytes = pageBytes
        self.cache = cache
    }

    mutating func loadMeta() throws(KeyValueError) {
        if let m = cache.meta {
            meta = m
        } else if let m = try Meta.decode(try page(0)) {
            meta = m
            if m.version < Meta.version {
                // A store of packed leaves: this write may make a leaf
                // slotted, so the meta page says so in the same commit.
                meta.version = Meta.version
                metaDirty = true
            }
        } else {
            // A fresh store: page 1 is the empty root leaf.
            meta = Meta(root: 1, nextPage: 2, count: 0)
            dirty[1] = Node.emptyLeaf()
            metaDirty = true
        }
    }

    func page(_ number: UInt64) throws(KeyValueError) -> [UInt8] {
        do { return try tx.read(page: number) } catch { throw .store(error) }
    }

    mutating func node(_ number: UInt64) throws(KeyValueError) -> Node {
        if let n = dirty[number] { return n }
        if let n = cache.nodes[number] { return n }
        let n = try Node.decode(try page(number), number: number)
        cache.insert(number, n)
        return n
    }

    /// A page for a new node: the head of the free list, else a page never
    /// used. The caller fills it (`dirty`).
    mutating func allocate() throws(KeyValueError) -> UInt64 {
        metaDirty = true
        if meta.freeHead != 0 {
            let number = meta.freeHead
            let free = try node(number)
            guard free.isFree else { throw .corruption(page: number, detail: "the free list holds a page in use") }
            meta.freeHead = free.next
            return number
        }
        let number = meta.nextPage
        guard number < tx.store.pageCountMax else { throw .store(.pageOutOfRange(page: number, pageCountMax: tx.store.pageCountMax)) }
        meta.nextPage += 1
        return number
    }

    /// Puts page `number` (no longer in the tree) on the free list.
    mutating func free(_ number: UInt64) {
        assert(number != 0 && number != meta.root, "the meta page and the root are never freed")
        dirty[number] = .free(next: meta.freeHead)
        meta.freeHead = number
        metaDirty = true
    }

    /// A non-root node below this many encoded bytes merges with or borrows
    /// from a sibling.
    var underfullBytes: Int { pageBytes / 4 }

    /// The root-to-leaf path for `key`: (page, child index taken; 0 at the leaf).
    mutating func path(to key: [UInt8]) throws(KeyValueError) -> [(number: UInt64, child: Int)] {
        var out: [(UInt64, Int)] = []
        var number = meta.root
        while true {
            let n = try node(number)
            if n.isFree { throw .corruption(page: number, detail: "a free page in the tree") }
            if n.isLeaf {
                out.append((number, 0))
                return out
            }
            let c = n.childIndex(for: key)
            out.append((number, c))
            number = n.children[c]
            guard out.count < 64 else { throw .corruption(page: number, detail: "tree deeper than 64 levels") }
        }
    }

    /// Node `number`, taken out of `dirty` and the cache so that this copy
    /// is the only one and changes to it copy no array. The caller puts it
    /// back into `dirty`; the cache gets it again at publish (a transaction
    /// that fails leaves it out: it is decoded again when next needed).
    mutating func take(_ number: UInt64) throws(KeyValueError) -> Node {
        if let n = dirty.removeValue(forKey: number) { return n }
        if let n = cache.nodes.removeValue(forKey: number) { return n }
        return try Node.decode(try page(number), number: number)
    }

    mutating func put(_ key: [UInt8], _ value: [UInt8]) throws(KeyValueError) {
        let path = try path(to: key)
        guard let number = path.last?.number else { preconditionFailure("a path ends at a leaf") }
        var leaf = try take(number)
        let (i, found) = leaf.search(key)
        if found {
            leaf.replaceValue(at: i, with: value)
        } else {
            leaf.insertEntry(key, value, at: i)
            meta.count += 1
            metaDirty = true
        }
        dirty[number] = leaf
        try rebalance(path)
    }

    mutating func delete(_ key: [UInt8]) throws(KeyValueError) -> Bool {
        let path = try path(to: key)
        guard let number = path.last?.number else { preconditionFailure("a path ends at a leaf") }
        let (i, found) = try node(number).search(key)
        guard found else { return false }
        var leaf = try take(number)
        leaf.removeEntry(at: i)
        dirty[number] = leaf
        meta.count -= 1
        metaDirty = true
        try rebalance(path)
        return true
    }

    /// Restores the node-size rules along `path` (root first: each page and
    /// the child index taken from it) after its last node changed,
    /// bottom-up. At each level: a node over a page splits (its parent
    /// gains an entry); a non-root node under `underfullBytes` merges with
    /// a sibling when the two fit in a page, else the two share their
    /// entries evenly (the parent loses or changes an entry); an internal
    /// root with one child gives way to it. Stops at the first level left
    /// as it was.
    mutating func rebalance(_ path: [(number: UInt64, child: Int)]) throws(KeyValueError) {
        var level = path.count - 1
        while level >= 0 {
            let number = path[level].number
            var node = try node(number)
            let bytes = node.encodedBytes
            if bytes > pageBytes {
                let (right, separator) = node.split(pageBytes: pageBytes)
                assert(node.encodedBytes <= pageBytes && right.encodedBytes <= pageBytes, "a split leaves both halves within a page")
                let rightNumber = try allocate()
                if node.isLeaf { node.next = rightNumber }
                dirty[number] = node
                dirty[rightNumber] = right
                if level == 0 {
                    let rootNumber = try allocate()
                    var root = Node(isLeaf: false)
                    root.keys = [separator]
                    root.children = [number, rightNumber]
                    dirty[rootNumber] = root
                    meta.root = rootNumber
                    metaDirty = true
                    return
                }
                let (parentNumber, child) = path[level - 1]
                var parent = try self.node(parentNumber)
                parent.keys.insert(separator, at: child)
                parent.children.insert(rightNumber, at: child + 1)
                dirty[parentNumber] = parent
            } else if level == 0 {
                if !node.isLeaf && node.keys.isEmpty {
                    assert(node.children.count == 1)
                    meta.root = node.children[0]
                    metaDirty = true
                    free(number)
                }
                return
            } else if bytes < underfullBytes {
                let (parentNumber, child) = path[level - 1]
                var parent = try self.node(parentNumber)
                guard parent.children.count >= 2 else { throw .corruption(page: parentNumber, detail: "an internal node with one child below the root") }
                try mergeOrShare(parent: &parent, left: child > 0 ? child - 1 : child)
                dirty[parentNumber] = parent
            } else {
                return
            }
            level -= 1
        }
    }

    /// Merges children `left` and `left + 1` of `parent` into the left one
    /// (freeing the right one) when they fit in a page, else splits their
    /// entries evenly by bytes between them.
    mutating func mergeOrShare(parent: inout Node, left: Int) throws(KeyValueError) {
        let leftNumber = parent.children[left]
        let rightNumber = parent.children[left + 1]
        let l = try node(leftNumber)
        let r = try node(rightNumber)
        guard l.isLeaf == r.isLeaf else { throw .corruption(page: rightNumber, detail: "siblings on different levels") }
        var combined = l
        if l.isLeaf {
            combined.keys += r.keys
            combined.values += r.values
            combined.next = r.next
            // The left leaf's bodies stay where they are in its page; the
            // right one's are placed in its free space.
            combined.bodyOffsets += repeatElement(0, count: r.keys.count)
        } else {
            combined.keys.append(parent.keys[left])
            combined.keys += r.keys
            combined.children += r.children
        }
        if combined.encodedBytes <= pageBytes {
            dirty[leftNumber] = combined
            free(rightNumber)
            parent.keys.remove(at: left)
            parent.children.remove(at: left + 1)
            return
        }
        // Both were within a page and one is under a quarter page: each half
        // of an even split fits.
        let (newRight, separator) = combined.split()
        assert(combined.encodedBytes <= pageBytes && newRight.encodedBytes <= pageBytes, "an even split of two nodes fits")
        if combined.isLeaf { combined.next = rightNumber }
        dirty[leftNumber] = combined
        dirty[rightNumber] = newRight
        parent.keys[left] = separator
    }

    /// Writes every changed page, leaves placed first (LeafLayout.swift)
    /// and written over the pages they replace: the placed nodes stay in
    /// `dirty`, which the cache takes at publish.
    mutating func flush() throws(KeyValueError) {
        // In place: walking the values by index copies no node.
        var i = dirty.startIndex
        while i != dirty.endIndex {
            let number = dirty.keys[i]
            if dirty.values[i].isLeaf {
                let bodies = dirty.values[i].place(pageBytes: pageBytes)
                var image = try page(number)
                dirty.values[i].encode(over: &image, bodies: bodies)
                try write(number, image)
            } else {
                try write(number, dirty.values[i].encode(pageBytes: pageBytes))
            }
            dirty.formIndex(after: &i)
        }
        if metaDirty { try write(0, meta.encode(pageBytes: pageBytes)) }
    }

    private func write(_ number: UInt64, _ image: [UInt8]) throws(KeyValueError) {
        do { try tx.write(page: number, image) } catch { throw .store(error) }
    }
}
