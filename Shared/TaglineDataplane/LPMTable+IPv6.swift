// IPv6 updates of the multibit trie: a 2^16-entry root for bits 0-15, then
// nodes of 256 entries for each further 8 bits. A prefix is written into the
// node whose stride contains its last bit, over the entries it covers there.

import TaglineCore

extension LPMStorage {
    func insertIPv6(_ key: IPv6Key, length: Int, value: UInt16) {
        if ribIPv6[length].updateValue(value, forKey: key) == nil { countIPv6 += 1 }
        writeIPv6(key, length: length, value: value)
    }

    func removeIPv6(_ key: IPv6Key, length: Int) -> UInt16? {
        guard let old = ribIPv6[length].removeValue(forKey: key) else { return nil }
        countIPv6 -= 1
        let span = nodeSpanIPv6(key, length: length, create: false)

        // The longest shorter prefix that covers this one takes the entries back when it
        // ends in the same node. One that ends higher up is matched there on the way down.
        var replacement: UInt32 = 0
        for shorter in stride(from: length - 1, through: 0, by: -1) {
            guard case .v6(let high, let low) = IPPrefix.masked(.v6(key.high, key.low), shorter),
                let value = ribIPv6[shorter][IPv6Key(high: high, low: low)]
            else { continue }
            if span.depth == 0 || shorter > span.depth {
                replacement = LPMEntry.make(value: value, length: shorter)
            }
            break
        }
        for index in span.range where LPMEntry.isOwned(entriesIPv6[index], byLength: length) {
            entriesIPv6[index] = replacement
        }
        // TODO: free IPv6 nodes left without entries or children. A bulk build drops them.
        return old
    }

    func writeIPv6(_ key: IPv6Key, length: Int, value: UInt16) {
        if entriesIPv6.isEmpty {
            entriesIPv6 = Array(repeating: 0, count: LPMStorage.rootSizeIPv6)
            childrenIPv6 = Array(repeating: 0, count: LPMStorage.rootSizeIPv6)
        }
        let entry = LPMEntry.make(value: value, length: length)
        let span = nodeSpanIPv6(key, length: length, create: true)
        for index in span.range where LPMEntry.length(entriesIPv6[index]) <= length {
            entriesIPv6[index] = entry
        }
    }

    /// Finds the node whose stride contains the last bit of the prefix and returns the
    /// positions in `entriesIPv6` that the prefix covers, and the node's first bit.
    /// With `create`, missing nodes on the way are added.
    private func nodeSpanIPv6(_ key: IPv6Key, length: Int, create: Bool)
        -> (range: Range<Int>, depth: Int)
    {
        let rootIndex = Int(key.high >> 48)
        if length <= 16 {
            return (rootIndex..<(rootIndex + 1 << (16 - length)), 0)
        }
        var parent = rootIndex
        var depth = 16
        while true {
            var node = Int(childrenIPv6[parent])
            if node == 0 {
                precondition(create, "LPMTable: IPv6 node missing for a stored prefix")
                nodeCountIPv6 += 1
                node = nodeCountIPv6
                entriesIPv6.append(contentsOf: repeatElement(0, count: LPMStorage.nodeSizeIPv6))
                childrenIPv6.append(contentsOf: repeatElement(0, count: LPMStorage.nodeSizeIPv6))
                childrenIPv6[parent] = UInt32(node)
            }
            let index = LPMStorage.entryIndexIPv6(
                node: node, chunk: LPMStorage.chunk(key.high, key.low, depth: depth))
            if length <= depth + 8 {
                return (index..<(index + 1 << (depth + 8 - length)), depth)
            }
            parent = index
            depth += 8
        }
    }
}
