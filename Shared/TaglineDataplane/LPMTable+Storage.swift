// The storage behind LPMTable: the IPv4 DIR-24-8 arrays, the IPv6 trie and
// the per-length RIB. Mutated only through a uniquely referenced LPMTable.

import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// An IPv6 prefix address as a dictionary key.
struct IPv6Key: Hashable {
    var high: UInt64
    var low: UInt64
}

@usableFromInline
final class LPMStorage: @unchecked Sendable {
    /// Entries in the IPv4 first level: one per /24.
    static let slotCount = 1 << 24
    static let blockSize = 256
    /// Entries in the IPv6 root node: one per /16.
    static let rootSizeIPv6 = 1 << 16
    static let nodeSizeIPv6 = 256

    /// The IPv4 first level from calloc; nil until the first IPv4 insert.
    @usableFromInline var slots: UnsafeMutablePointer<UInt32>?
    /// The IPv4 second-level blocks, `blockCapacity` blocks of `blockSize` entries.
    @usableFromInline var blocks: UnsafeMutablePointer<UInt32>?
    var blockCapacity = 0
    /// Blocks ever handed out; indices below it are in use or on `freeBlocks`.
    var blockCount = 0
    var freeBlocks: [Int] = []
    /// Prefixes longer than /24 stored in each block.
    var blockPrefixCounts: [Int32] = []
    /// IPv4 prefixes by length (index 0-32): network address to SGT.
    var ribIPv4: [[UInt32: UInt16]] = Array(repeating: [:], count: 33)
    var countIPv4 = 0

    /// IPv6 node entries: the root's 2^16, then 256 per node, node n at
    /// `rootSizeIPv6 + (n - 1) * nodeSizeIPv6`. Empty until the first IPv6 insert.
    @usableFromInline var entriesIPv6: [UInt32] = []
    /// Child per entry, laid out like `entriesIPv6`: 0 for none, a node number, or
    /// `leafFlag` with an index into `leavesIPv6`.
    @usableFromInline var childrenIPv6: [UInt32] = []
    var nodeCountIPv6 = 0
    /// Prefixes stored as leaves in child slots, and the free places among them.
    @usableFromInline var leavesIPv6: [LeafIPv6] = []
    var freeLeavesIPv6: [Int] = []
    /// IPv6 prefixes by length (index 0-128).
    var ribIPv6: [[IPv6Key: UInt16]] = Array(repeating: [:], count: 129)
    var countIPv6 = 0

    init() {}

    deinit {
        free(slots)
        free(blocks)
    }

    var blocksInUse: Int { blockCount - freeBlocks.count }

    /// Returns a deep copy, for a mutation of a table that readers may share.
    // TODO: copy only the touched first-level chunks and blocks; a full copy of a table of
    // a million bindings took 0.2-0.3 s in `tagline-bench lpm`.
    func copy() -> LPMStorage {
        let other = LPMStorage()
        if let slots {
            other.slots = LPMStorage.allocateSlots()
            other.slots!.update(from: slots, count: LPMStorage.slotCount)
        }
        if let blocks, blockCapacity > 0 {
            let entries = blockCapacity * LPMStorage.blockSize
            let pointer = malloc(entries * MemoryLayout<UInt32>.stride)!
            other.blocks = pointer.bindMemory(to: UInt32.self, capacity: entries)
            other.blocks!.update(from: blocks, count: blockCount * LPMStorage.blockSize)
        }
        other.blockCapacity = blockCapacity
        other.blockCount = blockCount
        other.freeBlocks = freeBlocks
        other.blockPrefixCounts = blockPrefixCounts
        other.ribIPv4 = ribIPv4
        other.countIPv4 = countIPv4
        other.entriesIPv6 = entriesIPv6
        other.childrenIPv6 = childrenIPv6
        other.nodeCountIPv6 = nodeCountIPv6
        other.leavesIPv6 = leavesIPv6
        other.freeLeavesIPv6 = freeLeavesIPv6
        other.ribIPv6 = ribIPv6
        other.countIPv6 = countIPv6
        return other
    }

    /// Allocates a zeroed first level. calloc of this size maps fresh zero pages, so only
    /// the pages later written take physical memory.
    static func allocateSlots() -> UnsafeMutablePointer<UInt32> {
        guard let raw = calloc(slotCount, MemoryLayout<UInt32>.stride) else {
            fatalError("LPMTable: calloc of the 64 MiB IPv4 first level failed")
        }
        return raw.bindMemory(to: UInt32.self, capacity: slotCount)
    }

    // MARK: Lookup

    @inlinable @inline(__always)
    func lookupIPv4(_ address: UInt32) -> UInt16 {
        guard let slots else { return 0 }
        let slot = slots[Int(address >> 8)]
        if slot & LPMEntry.blockFlag == 0 { return UInt16(truncatingIfNeeded: slot) }
        let block = Int(slot & ~LPMEntry.blockFlag)
        return UInt16(
            truncatingIfNeeded: blocks.unsafelyUnwrapped[block << 8 | Int(address & 0xFF)])
    }

    @usableFromInline
    func lookupIPv6(_ high: UInt64, _ low: UInt64) -> UInt16 {
        guard !entriesIPv6.isEmpty else { return 0 }
        return entriesIPv6.withUnsafeBufferPointer { entries in
            childrenIPv6.withUnsafeBufferPointer { children in
                var index = Int(high >> 48)
                var best = entries[index]
                var node = children[index]
                var depth = 16
                while node != 0 {
                    if node & LPMStorage.leafFlag != 0 {
                        let leaf = leavesIPv6[Int(node & ~LPMStorage.leafFlag)]
                        if high & leaf.maskHigh == leaf.high, low & leaf.maskLow == leaf.low {
                            best = leaf.entry
                        }
                        break
                    }
                    index = LPMStorage.entryIndexIPv6(
                        node: Int(node), chunk: LPMStorage.chunk(high, low, depth: depth))
                    let entry = entries[index]
                    if entry != 0 { best = entry }
                    node = children[index]
                    depth += 8
                }
                return UInt16(truncatingIfNeeded: best)
            }
        }
    }

    /// Extracts the 8 address bits starting at `depth`, a multiple of 8 from 16 to 120.
    @inline(__always)
    static func chunk(_ high: UInt64, _ low: UInt64, depth: Int) -> Int {
        if depth < 64 { return Int((high >> UInt64(56 - depth)) & 0xFF) }
        return Int((low >> UInt64(120 - depth)) & 0xFF)
    }

    /// Position in `entriesIPv6` of entry `chunk` of node `node` (1 or more).
    @inline(__always)
    static func entryIndexIPv6(node: Int, chunk: Int) -> Int {
        rootSizeIPv6 + (node - 1) * nodeSizeIPv6 + chunk
    }

    // MARK: Updates

    func insert(_ prefix: IPPrefix, _ value: UInt16) {
        switch prefix.address {
        case .v4(let address): insertIPv4(address, length: prefix.length, value: value)
        case .v6(let high, let low):
            insertIPv6(IPv6Key(high: high, low: low), length: prefix.length, value: value)
        }
    }

    func remove(_ prefix: IPPrefix) -> UInt16? {
        switch prefix.address {
        case .v4(let address): return removeIPv4(address, length: prefix.length)
        case .v6(let high, let low):
            return removeIPv6(IPv6Key(high: high, low: low), length: prefix.length)
        }
    }

    /// Fills the RIB first, so duplicates collapse to the last binding, then writes each
    /// family in order of increasing length. A longer prefix then always overwrites a
    /// shorter one, and a block copies its /24 slot only once that slot is final.
    func bulkLoad<S: Sequence>(_ bindings: S) where S.Element == (prefix: IPPrefix, sgt: SGT) {
        for (prefix, sgt) in bindings {
            switch prefix.address {
            case .v4(let address): ribIPv4[prefix.length][address] = sgt.value
            case .v6(let high, let low):
                ribIPv6[prefix.length][IPv6Key(high: high, low: low)] = sgt.value
            }
        }
        for length in 0...32 {
            for (address, value) in ribIPv4[length] {
                writeIPv4(address, length: length, value: value, isNew: true)
            }
            countIPv4 += ribIPv4[length].count
        }
        for length in 0...128 {
            for (key, value) in ribIPv6[length] {
                writeIPv6(key, length: length, value: value)
            }
            countIPv6 += ribIPv6[length].count
        }
        shrinkToFit()
    }

    /// Gives back the spare capacity that growth by doubling left in the block pool and
    /// the IPv6 node arrays.
    func shrinkToFit() {
        if blockCount < blockCapacity, let blocks {
            let bytes = max(1, blockCount) * LPMStorage.blockSize * MemoryLayout<UInt32>.stride
            if let raw = realloc(blocks, bytes) {
                self.blocks = raw.bindMemory(to: UInt32.self, capacity: bytes / 4)
                blockCapacity = max(1, blockCount)
            }
        }
        if entriesIPv6.capacity > entriesIPv6.count {
            entriesIPv6 = LPMStorage.exactCopy(entriesIPv6)
            childrenIPv6 = LPMStorage.exactCopy(childrenIPv6)
        }
        if leavesIPv6.capacity > leavesIPv6.count {
            leavesIPv6 = LPMStorage.exactCopy(leavesIPv6)
        }
    }

    /// Copies `array` into a new buffer of its count, since `Array(array)` shares the buffer.
    private static func exactCopy<Element>(_ array: [Element]) -> [Element] {
        [Element](unsafeUninitializedCapacity: array.count) { buffer, initialized in
            _ = buffer.initialize(from: array)
            initialized = array.count
        }
    }

    // MARK: Iteration and size

    func forEachPrefix(_ body: (IPPrefix, UInt16) -> Void) {
        for length in 0...32 {
            for (address, value) in ribIPv4[length].sorted(by: { $0.key < $1.key }) {
                body(IPPrefix(address: .v4(address), length: length)!, value)
            }
        }
        for length in 0...128 {
            let sorted = ribIPv6[length].sorted {
                ($0.key.high, $0.key.low) < ($1.key.high, $1.key.low)
            }
            for (key, value) in sorted {
                body(IPPrefix(address: .v6(key.high, key.low), length: length)!, value)
            }
        }
    }

    var memoryUsage: LPMMemoryUsage {
        var usage = LPMMemoryUsage()
        if slots != nil { usage.firstLevel = LPMStorage.slotCount * MemoryLayout<UInt32>.stride }
        usage.blocks = blockCapacity * LPMStorage.blockSize * MemoryLayout<UInt32>.stride
        usage.blocks += blockPrefixCounts.capacity * MemoryLayout<Int32>.stride
        usage.blocks += freeBlocks.capacity * MemoryLayout<Int>.stride
        usage.nodesIPv6 = entriesIPv6.capacity * MemoryLayout<UInt32>.stride
        usage.nodesIPv6 += childrenIPv6.capacity * MemoryLayout<UInt32>.stride
        usage.nodesIPv6 += leavesIPv6.capacity * MemoryLayout<LeafIPv6>.stride
        // A native dictionary stores keys and values in separate arrays plus one bit of
        // occupancy per bucket.
        for rib in ribIPv4 {
            usage.rib += rib.capacity * (MemoryLayout<UInt32>.stride + MemoryLayout<UInt16>.stride)
            usage.rib += rib.capacity / 8
        }
        for rib in ribIPv6 {
            usage.rib += rib.capacity * (MemoryLayout<IPv6Key>.stride + MemoryLayout<UInt16>.stride)
            usage.rib += rib.capacity / 8
        }
        return usage
    }
}
