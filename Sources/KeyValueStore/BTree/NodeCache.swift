/// Decoded B+tree pages of the newest published tree, kept by writers (under
/// the group leader) so that a put decodes no page it decoded before. Only the key-
/// value store writes its page store, and its writers are serial, so a
/// cached node stays what the page holds until a writer publishes a new
/// one (`publish`); a transaction that fails publishes nothing, and what it
/// decoded is the published state. Bounded: emptied past `nodesMax` pages.
final class NodeCache: @unchecked Sendable {
    // @unchecked: used by the key-value store's group leader only (leaders
    // are serial, WriteGroup.swift).
    static let nodesMax = 1 << 14
    var nodes: [UInt64: Node] = [:]
    var meta: Meta?

    func insert(_ number: UInt64, _ node: Node) {
        if nodes.count >= Self.nodesMax { nodes.removeAll(keepingCapacity: true) }
        nodes[number] = node
    }

    /// A commit with these pages was published.
    func publish(_ dirty: [UInt64: Node], meta: Meta) {
        for (number, node) in dirty { insert(number, node) }
        self.meta = meta
    }
}
