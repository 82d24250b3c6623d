// IPv6 updates of the multibit trie: a 2^16-entry root for bits 0-15, then
// nodes of 256 entries for each further 8 bits. A prefix is written into the
// node whose stride contains its last bit, over the entries it covers there.
//
// A prefix that would need new nodes below an empty child slot is stored in
// that slot as a leaf record instead (path compression), so a lone /128
// costs one 40-byte record, not up to 14 nodes of 2 KiB. A leaf has no
// subtree. When another prefix needs the slot, the leaf moves one node down.

import TaglineCore

/// A prefix stored in a child slot of the IPv6 trie, with its masks for lookups.
@usableFromInline
struct LeafIPv6 {
    @usableFromInline var high: UInt64
    @usableFromInline var low: UInt64
    @usableFromInline var maskHigh: UInt64
    @usableFromInline var maskLow: UInt64
    @usableFromInline var entry: UInt32
    var length: Int32

    init(_ key: IPv6Key, length: Int, entry: UInt32) {
        high = key.high
        low = key.low
        guard case .v6(let maskHigh, let maskLow) = IPPrefix.masked(.v6(~0, ~0), length)
        else { preconditionFailure("an IPv6 mask is IPv6") }
        self.maskHigh = maskHigh
        self.maskLow = maskLow
        self.entry = entry
        self.length = Int32(length)
    }
}

/// The place of a prefix in the trie: entries of a node, or a leaf record.
private enum SpanIPv6 {
    /// Positions in `entriesIPv6` and the first bit of the node.
    case entries(Range<Int>, depth: Int)
    case leaf(Int)
}

extension LPMStorage {
    /// Bit 31 of a child slot: bits 0-30 index `leavesIPv6` rather than naming a node.
    static let leafFlag: UInt32 = 0x8000_0000

    func insertIPv6(_ key: IPv6Key, length: Int, value: UInt16) {
        if ribIPv6[length].updateValue(value, forKey: key) == nil { countIPv6 += 1 }
        writeIPv6(key, length: length, value: value)
    }

    func removeIPv6(_ key: IPv6Key, length: Int) -> UInt16? {
        guard let old = ribIPv6[length].removeValue(forKey: key) else { return nil }
        countIPv6 -= 1
        let range: Range<Int>
        let depth: Int
        switch spanIPv6(key, length: length, entry: 0, create: false) {
        case .leaf(let leaf):
            // A leaf covers nothing else, so its covering prefix is matched higher up.
            freeLeavesIPv6.append(leaf)
            return old
        case .entries(let entries, let nodeDepth):
            range = entries
            depth = nodeDepth
        }

        // The longest shorter prefix that covers this one takes the entries back when it
        // ends in the same node. One that ends higher up is matched there on the way down.
        var replacement: UInt32 = 0
        for shorter in stride(from: length - 1, through: 0, by: -1) {
            guard case .v6(let high, let low) = IPPrefix.masked(.v6(key.high, key.low), shorter),
                let value = ribIPv6[shorter][IPv6Key(high: high, low: low)]
            else { continue }
            if depth == 0 || shorter > depth {
                replacement = LPMEntry.make(value: value, length: shorter)
            }
            break
        }
        for index in range where LPMEntry.isOwned(entriesIPv6.word(index), byLength: length) {
            writeWord(&entriesIPv6, index, replacement)
        }
        // TODO: free IPv6 nodes left without entries or children. A bulk build drops them.
        return old
    }

    func writeIPv6(_ key: IPv6Key, length: Int, value: UInt16) {
        writeIPv6(key, length: length, entry: LPMEntry.make(value: value, length: length))
    }

    private func writeIPv6(_ key: IPv6Key, length: Int, entry: UInt32) {
        while entriesIPv6.wordCount < LPMStorage.rootSizeIPv6 {
            appendPage(&entriesIPv6, zeroed: true)
            appendPage(&childrenIPv6, zeroed: true)
        }
        switch spanIPv6(key, length: length, entry: entry, create: true) {
        case .leaf(let leaf):
            leavesIPv6[leaf].entry = entry
        case .entries(let range, _):
            for index in range where LPMEntry.length(entriesIPv6.word(index)) <= length {
                writeWord(&entriesIPv6, index, entry)
            }
        }
    }

    /// Finds where the prefix sits: the entries it covers in the node whose stride contains
    /// its last bit, or its leaf. With `create`, a missing prefix gets a leaf in the first
    /// empty child slot on its path (with `entry`), and a leaf in the way moves down.
    private func spanIPv6(_ key: IPv6Key, length: Int, entry: UInt32, create: Bool)
        -> SpanIPv6
    {
        let rootIndex = Int(key.high >> 48)
        if length <= 16 {
            return .entries(rootIndex..<(rootIndex + 1 << (16 - length)), depth: 0)
        }
        var parent = rootIndex
        var depth = 16
        while true {
            var child = childrenIPv6.word(parent)
            if child & LPMStorage.leafFlag != 0 {
                let leafIndex = Int(child & ~LPMStorage.leafFlag)
                let leaf = leavesIPv6[leafIndex]
                if leaf.high == key.high, leaf.low == key.low, Int(leaf.length) == length {
                    if !create { writeWord(&childrenIPv6, parent, 0) }
                    return .leaf(leafIndex)
                }
                precondition(create, "LPMTable: IPv6 prefix missing from the trie")

                // Another prefix needs this slot: a new node takes it and the leaf's
                // prefix is written again, one node further down.
                child = appendNodeIPv6()
                writeWord(&childrenIPv6, parent, child)
                freeLeavesIPv6.append(leafIndex)
                writeIPv6(
                    IPv6Key(high: leaf.high, low: leaf.low), length: Int(leaf.length),
                    entry: leaf.entry)
            }
            if child == 0 {
                precondition(create, "LPMTable: IPv6 node missing for a stored prefix")
                if length > depth + 8 {
                    let leaf = LeafIPv6(key, length: length, entry: entry)
                    let leafIndex: Int
                    if let reused = freeLeavesIPv6.popLast() {
                        leafIndex = reused
                        leavesIPv6[leafIndex] = leaf
                    } else {
                        leafIndex = leavesIPv6.count
                        leavesIPv6.append(leaf)
                    }
                    writeWord(&childrenIPv6, parent, LPMStorage.leafFlag | UInt32(leafIndex))
                    return .leaf(leafIndex)
                }
                child = appendNodeIPv6()
                writeWord(&childrenIPv6, parent, child)
            }
            let index = LPMStorage.entryIndexIPv6(
                node: Int(child), chunk: LPMStorage.chunk(key.high, key.low, depth: depth))
            if length <= depth + 8 {
                return .entries(index..<(index + 1 << (depth + 8 - length)), depth: depth)
            }
            parent = index
            depth += 8
        }
    }

    /// Appends an empty node and returns its number. Nodes are never reused, so the words
    /// of a new node are still zero from the page's allocation.
    private func appendNodeIPv6() -> UInt32 {
        nodeCountIPv6 += 1
        let end = LPMStorage.rootSizeIPv6 + nodeCountIPv6 * LPMStorage.nodeSizeIPv6
        while entriesIPv6.wordCount < end {
            appendPage(&entriesIPv6, zeroed: true)
            appendPage(&childrenIPv6, zeroed: true)
        }
        return UInt32(nodeCountIPv6)
    }
}
