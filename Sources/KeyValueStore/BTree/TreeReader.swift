import PageStore

/// The shape of the tree, as `verifyStructure` found it.
public struct KeyValueStructure: Sendable, Equatable {
    /// Levels, 1 for a lone root leaf (0: no tree yet).
    public var depth = 0
    /// Pages holding leaves.
    public var leafPages = 0
    /// Pages holding internal nodes.
    public var internalPages = 0
    /// Pages on the free list.
    public var freePages = 0
    /// Keys in the tree.
    public var keys: UInt64 = 0
    /// Pages ever allocated, the meta page included (the free list reuses them).
    public var allocatedPages: UInt64 = 0
}

/// Reads the tree through a page source.
struct TreeReader {
    let read: (UInt64) throws(PageStoreError) -> [UInt8]

    func page(_ number: UInt64) throws(KeyValueError) -> [UInt8] {
        do { return try read(number) } catch { throw .store(error) }
    }

    func node(_ number: UInt64) throws(KeyValueError) -> Node {
        try Node.decode(try page(number), number: number)
    }

    /// The leaf that holds `key` (nil: the tree is empty).
    func leaf(for key: [UInt8]) throws(KeyValueError) -> (number: UInt64, node: Node)? {
        guard let meta = try Meta.decode(try page(0)) else { return nil }
        var number = meta.root
        var depth = 0
        while true {
            let n = try node(number)
            if n.isFree { throw .corruption(page: number, detail: "a free page in the tree") }
            if n.isLeaf { return (number, n) }
            number = n.children[n.childIndex(for: key)]
            depth += 1
            guard depth < 64 else { throw .corruption(page: number, detail: "tree deeper than 64 levels") }
        }
    }

    func verify(pageBytes: Int) throws(KeyValueError) -> KeyValueStructure {
        var out = KeyValueStructure()
        guard let meta = try Meta.decode(try page(0)) else { return out }
        out.allocatedPages = meta.nextPage
        var seen: Set<UInt64> = [0]
        func claim(_ number: UInt64) throws(KeyValueError) {
            guard number > 0 && number < meta.nextPage else { throw .corruption(page: number, detail: "beyond the allocated pages") }
            guard seen.insert(number).inserted else { throw .corruption(page: number, detail: "reached twice") }
        }
        // Depth-first, left to right: leaves come in key order.
        var leaves: [UInt64] = []
        var lastKey: [UInt8]?
        var depth = 0
        func walk(_ number: UInt64, level: Int, low: [UInt8]?, high: [UInt8]?) throws(KeyValueError) {
            try claim(number)
            let n = try node(number)
            guard !n.isFree else { throw .corruption(page: number, detail: "a free page in the tree") }
            // A packed leaf fit its page when decoded; slotted, it may not
            // (its first write then splits it).
            guard n.wasPacked || n.encodedBytes <= pageBytes else { throw .corruption(page: number, detail: "over a page") }
            if level > 0 && n.keys.isEmpty { throw .corruption(page: number, detail: "an empty node below the root") }
            for k in n.keys {
                if let low, k.lexicographicallyPrecedes(low) { throw .corruption(page: number, detail: "a key below its subtree's range") }
                if let high, !k.lexicographicallyPrecedes(high) { throw .corruption(page: number, detail: "a key above its subtree's range") }
            }
            if n.isLeaf {
                if depth == 0 { depth = level + 1 }
                guard depth == level + 1 else { throw .corruption(page: number, detail: "leaves on different levels") }
                for k in n.keys {
                    if let lastKey, !lastKey.lexicographicallyPrecedes(k) { throw .corruption(page: number, detail: "keys out of order") }
                    lastKey = k
                }
                leaves.append(number)
                out.leafPages += 1
                out.keys += UInt64(n.keys.count)
                return
            }
            out.internalPages += 1
            guard n.children.count == n.keys.count + 1 else { throw .corruption(page: number, detail: "children and keys disagree") }
            for (i, child) in n.children.enumerated() {
                try walk(child, level: level + 1, low: i == 0 ? low : n.keys[i - 1], high: i < n.keys.count ? n.keys[i] : high)
            }
        }
        try walk(meta.root, level: 0, low: nil, high: nil)
        out.depth = depth
        for (i, number) in leaves.enumerated() {
            let expected = i + 1 < leaves.count ? leaves[i + 1] : 0
            guard try node(number).next == expected else { throw .corruption(page: number, detail: "the leaf chain skips or reorders leaves") }
        }
        guard out.keys == meta.count else { throw .corruption(page: 0, detail: "key count \(meta.count), tree holds \(out.keys)") }
        var free = meta.freeHead
        while free != 0 {
            try claim(free)
            let n = try node(free)
            guard n.isFree else { throw .corruption(page: free, detail: "on the free list but not free") }
            out.freePages += 1
            free = n.next
        }
        guard UInt64(seen.count) == meta.nextPage else {
            throw .corruption(page: 0, detail: "\(meta.nextPage - UInt64(seen.count)) pages neither in the tree nor on the free list")
        }
        return out
    }

    func get(_ key: [UInt8]) throws(KeyValueError) -> [UInt8]? {
        guard let (_, leaf) = try leaf(for: key) else { return nil }
        let (i, found) = leaf.search(key)
        return found ? leaf.values[i] : nil
    }

    func scan(from start: [UInt8], _ body: ([UInt8], [UInt8]) throws(KeyValueError) -> Bool) throws(KeyValueError) {
        guard var (_, leaf) = try leaf(for: start) else { return }
        var i = leaf.search(start).index
        var visited = 0
        while true {
            while i < leaf.keys.count {
                if try !body(leaf.keys[i], leaf.values[i]) { return }
                i += 1
            }
            guard leaf.next != 0 else { return }
            let next = leaf.next
            leaf = try node(next)
            i = 0
            visited += 1
            guard leaf.isLeaf && !leaf.isFree else { throw .corruption(page: 0, detail: "leaf chain reaches an internal node") }
        }
    }
}
