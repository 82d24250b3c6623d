// Longest-prefix match over IPv4 and IPv6 prefixes: a binary trie per
// family, one node per prefix bit, stored in an array so a lookup follows
// indices and allocates nothing. Tables are built once and then only read,
// which is how the dataplane publishes them to its workers.

import TaglineCore

/// Maps prefixes to values and finds the longest prefix containing an address.
public struct PrefixTable<Value>: Sendable where Value: Sendable {
    private struct Node: Sendable {
        var zero: Int32 = -1
        var one: Int32 = -1
        /// Index into `entries`, or -1 when no prefix ends here.
        var entry: Int32 = -1

        @inline(__always)
        func child(_ bit: Bool) -> Int32 { bit ? one : zero }

        @inline(__always)
        mutating func setChild(_ bit: Bool, _ index: Int32) {
            if bit { one = index } else { zero = index }
        }
    }

    private var nodesIPv4 = [Node()]
    private var nodesIPv6 = [Node()]
    private var entries: [(prefix: IPPrefix, value: Value)] = []

    public init() {}

    /// Number of prefixes stored.
    public var count: Int { entries.count }

    /// Every prefix and its value, in insertion order.
    public var allEntries: [(prefix: IPPrefix, value: Value)] { entries }

    /// Adds `prefix`, replacing the value of an equal prefix already present.
    public mutating func insert(_ prefix: IPPrefix, _ value: Value) {
        let isIPv4 = prefix.address.isIPv4
        var node = 0
        for depth in 0..<prefix.length {
            let bit = PrefixTable.bit(of: prefix.address, at: depth)
            var child = isIPv4 ? nodesIPv4[node].child(bit) : nodesIPv6[node].child(bit)
            if child < 0 {
                if isIPv4 {
                    nodesIPv4.append(Node())
                    child = Int32(nodesIPv4.count - 1)
                    nodesIPv4[node].setChild(bit, child)
                } else {
                    nodesIPv6.append(Node())
                    child = Int32(nodesIPv6.count - 1)
                    nodesIPv6[node].setChild(bit, child)
                }
            }
            node = Int(child)
        }
        let existing = isIPv4 ? nodesIPv4[node].entry : nodesIPv6[node].entry
        if existing >= 0 {
            entries[Int(existing)] = (prefix, value)
            return
        }
        entries.append((prefix, value))
        if isIPv4 {
            nodesIPv4[node].entry = Int32(entries.count - 1)
        } else {
            nodesIPv6[node].entry = Int32(entries.count - 1)
        }
    }

    /// Returns the value of the longest prefix that contains `address`, or nil.
    public func lookup(_ address: IPAddress) -> Value? {
        lookupEntry(address)?.value
    }

    /// Returns the longest prefix that contains `address`, with its value.
    public func lookupEntry(_ address: IPAddress) -> (prefix: IPPrefix, value: Value)? {
        let best = address.isIPv4 ? walk(nodesIPv4, address) : walk(nodesIPv6, address)
        return best < 0 ? nil : entries[Int(best)]
    }

    private func walk(_ nodes: [Node], _ address: IPAddress) -> Int32 {
        var node = 0
        var best = nodes[0].entry
        for depth in 0..<address.bitWidth {
            let child = nodes[node].child(PrefixTable.bit(of: address, at: depth))
            if child < 0 { break }
            node = Int(child)
            if nodes[node].entry >= 0 { best = nodes[node].entry }
        }
        return best
    }

    /// Bit `depth` of the address, counted from the most significant bit.
    @inline(__always)
    private static func bit(of address: IPAddress, at depth: Int) -> Bool {
        switch address {
        case .v4(let value):
            return (value >> UInt32(31 - depth)) & 1 == 1
        case .v6(let high, let low):
            if depth < 64 { return (high >> UInt64(63 - depth)) & 1 == 1 }
            return (low >> UInt64(127 - depth)) & 1 == 1
        }
    }
}
