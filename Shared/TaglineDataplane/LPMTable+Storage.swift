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

    /// The IPv4 first level: `LPMChunk.chunkCount` chunk pointers, the zero chunk where no
    /// prefix was ever written.
    @usableFromInline let chunks: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    /// The generation that allocated each chunk; the table owns it when equal to `generation`.
    let chunkOwners: UnsafeMutablePointer<UInt64>
    /// The IPv4 second-level blocks, 16 to a page; blocks below
    /// `blockPages.count << LPMChunk.blockShift` exist.
    @usableFromInline var blockPages = LPMPages()
    /// Blocks ever handed out; indices below it are in use or on `freeBlocks`.
    var blockCount = 0
    var freeBlocks: [Int] = []
    /// Prefixes longer than /24 stored in each block.
    var blockPrefixCounts: [Int32] = []
    /// IPv4 prefixes by length (index 0-32): network address to SGT.
    var ribIPv4: [[UInt32: UInt16]] = Array(repeating: [:], count: 33)
    var countIPv4 = 0
    /// Bumped by every snapshot, so that every piece allocated before it counts as shared.
    var generation: UInt64 = 1
    /// The last snapshot taken, which frees the shared pieces this table replaces.
    var latest: LPMSnapshot?

    /// IPv6 node entries: the root's 2^16, then 256 per node, node n at
    /// `rootSizeIPv6 + (n - 1) * nodeSizeIPv6`. No pages until the first IPv6 insert.
    var entriesIPv6 = LPMPages()
    /// Child per entry, laid out like `entriesIPv6`: 0 for none, a node number, or
    /// `leafFlag` with an index into `leavesIPv6`.
    var childrenIPv6 = LPMPages()
    var nodeCountIPv6 = 0
    /// Prefixes stored as leaves in child slots, and the free places among them.
    @usableFromInline var leavesIPv6: [LeafIPv6] = []
    var freeLeavesIPv6: [Int] = []
    /// IPv6 prefixes by length (index 0-128).
    var ribIPv6: [[IPv6Key: UInt16]] = Array(repeating: [:], count: 129)
    var countIPv6 = 0

    init() {
        chunks = LPMChunk.allocatePointers(LPMChunk.chunkCount)
        chunkOwners = .allocate(capacity: LPMChunk.chunkCount)
        chunkOwners.initialize(repeating: 0, count: LPMChunk.chunkCount)
    }

    deinit {
        for index in 0..<LPMChunk.chunkCount where chunks[index] != LPMChunk.zero {
            dropPiece(chunks[index], owner: chunkOwners[index])
        }
        for pages in [blockPages, entriesIPv6, childrenIPv6] {
            for index in 0..<pages.count {
                dropPiece(pages.pointers[index], owner: pages.owners[index])
            }
            pages.pointers.deallocate()
        }
        chunks.deallocate()
        chunkOwners.deallocate()
    }

    var blocksInUse: Int { blockCount - freeBlocks.count }

    /// Frees a piece this table owns; hands a shared one to the latest snapshot.
    private func dropPiece(_ piece: UnsafeMutablePointer<UInt32>, owner: UInt64) {
        if owner == generation || latest == nil {
            LPMChunk.release(piece)
        } else {
            latest!.piecesToFree.append(piece)
        }
    }

    /// Returns the chunk of first-level slot `slot`, copied first when shared or zero.
    @inline(__always)
    func writableChunk(slot: Int) -> UnsafeMutablePointer<UInt32> {
        let index = slot >> LPMChunk.slotShift
        if chunkOwners[index] == generation { return chunks[index] }
        let old = chunks[index]
        let copy = LPMChunk.allocate(copying: old)
        if old != LPMChunk.zero { dropPiece(old, owner: chunkOwners[index]) }
        chunks[index] = copy
        chunkOwners[index] = generation
        return copy
    }

    @inline(__always)
    func readSlot(_ slot: Int) -> UInt32 {
        chunks[slot >> LPMChunk.slotShift][slot & LPMChunk.slotMask]
    }

    @inline(__always)
    func writeSlot(_ slot: Int, _ entry: UInt32) {
        writableChunk(slot: slot)[slot & LPMChunk.slotMask] = entry
    }

    /// Returns the 256 entries of `block`, for reading only.
    @inline(__always)
    func readBlock(_ block: Int) -> UnsafeMutablePointer<UInt32> {
        blockPages.pointers[block >> LPMChunk.blockShift] + (block & LPMChunk.blockMask) << 8
    }

    /// Returns the 256 entries of `block`, its page copied first when shared.
    @inline(__always)
    func writableBlock(_ block: Int) -> UnsafeMutablePointer<UInt32> {
        writablePage(&blockPages, block >> LPMChunk.blockShift)
            + (block & LPMChunk.blockMask) << 8
    }

    /// Returns page `index` of `pages`, copied first when shared.
    @inline(__always)
    func writablePage(_ pages: inout LPMPages, _ index: Int) -> UnsafeMutablePointer<UInt32> {
        if pages.owners[index] != generation {
            let old = pages.pointers[index]
            pages.pointers[index] = LPMChunk.allocate(copying: old)
            dropPiece(old, owner: pages.owners[index])
            pages.owners[index] = generation
        }
        return pages.pointers[index]
    }

    /// Writes word `index` of `pages`, copying its page first when shared.
    @inline(__always)
    func writeWord(_ pages: inout LPMPages, _ index: Int, _ value: UInt32) {
        writablePage(&pages, index >> LPMChunk.slotShift)[index & LPMChunk.slotMask] = value
    }

    /// Adds a page owned by this table to `pages`, zeroed when `zeroed`, growing the
    /// pointer array by doubling.
    func appendPage(_ pages: inout LPMPages, zeroed: Bool) {
        if pages.count == pages.capacity {
            let capacity = max(64, pages.capacity * 2)
            let grown = LPMChunk.allocatePointers(capacity)
            grown.update(from: pages.pointers, count: pages.count)
            pages.pointers.deallocate()
            pages.pointers = grown
            pages.capacity = capacity
        }
        let page = LPMChunk.allocate(copying: zeroed ? LPMChunk.zero : nil)
        pages.pointers[pages.count] = page
        pages.owners.append(generation)
    }

    /// Returns a deep copy, for a mutation of a table value that another value shares.
    /// Publication does not go through here but through `snapshot()`.
    func copy() -> LPMStorage {
        let other = LPMStorage()
        for index in 0..<LPMChunk.chunkCount where chunks[index] != LPMChunk.zero {
            other.chunks[index] = LPMChunk.allocate(copying: chunks[index])
            other.chunkOwners[index] = other.generation
        }
        for (pages, keyPath) in [
            (blockPages, \LPMStorage.blockPages), (entriesIPv6, \LPMStorage.entriesIPv6),
            (childrenIPv6, \LPMStorage.childrenIPv6),
        ] {
            for index in 0..<pages.count {
                other.appendPage(&other[keyPath: keyPath], zeroed: false)
                other[keyPath: keyPath].pointers[index].update(
                    from: pages.pointers[index], count: LPMChunk.entries)
            }
        }
        other.blockCount = blockCount
        other.freeBlocks = freeBlocks
        other.blockPrefixCounts = blockPrefixCounts
        other.ribIPv4 = ribIPv4
        other.countIPv4 = countIPv4
        other.nodeCountIPv6 = nodeCountIPv6
        other.leavesIPv6 = leavesIPv6
        other.freeLeavesIPv6 = freeLeavesIPv6
        other.ribIPv6 = ribIPv6
        other.countIPv6 = countIPv6
        return other
    }

    /// Takes a read-only view that shares every piece with this table; the table copies a
    /// piece before it next writes it. Costs the two pointer arrays, not the table.
    func snapshot() -> LPMSnapshot {
        let view = LPMSnapshot(
            chunks: chunks, blockPages: blockPages, entriesIPv6: entriesIPv6,
            childrenIPv6: childrenIPv6, leavesIPv6: leavesIPv6, count: countIPv4 + countIPv6)
        latest?.successor = view
        latest = view
        generation += 1
        return view
    }

    // MARK: Lookup

    @inlinable @inline(__always)
    func lookupIPv4(_ address: UInt32) -> UInt16 {
        LPMChunk.lookupIPv4(address, chunks: chunks, pages: blockPages.pointers)
    }

    @usableFromInline
    func lookupIPv6(_ high: UInt64, _ low: UInt64) -> UInt16 {
        LPMStorage.lookupIPv6(
            high, low, entries: entriesIPv6.pointers, children: childrenIPv6.pointers,
            isEmpty: entriesIPv6.count == 0, leaves: leavesIPv6)
    }

    /// Looks up an IPv6 address in a trie's pages; snapshots share it.
    @usableFromInline
    static func lookupIPv6(
        _ high: UInt64, _ low: UInt64, entries: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>,
        children: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>, isEmpty: Bool,
        leaves: [LeafIPv6]
    ) -> UInt16 {
        guard !isEmpty else { return 0 }
        var index = Int(high >> 48)
        var best = LPMPages.word(entries, index)
        var node = LPMPages.word(children, index)
        var depth = 16
        while node != 0 {
            if node & LPMStorage.leafFlag != 0 {
                let leaf = leaves[Int(node & ~LPMStorage.leafFlag)]
                if high & leaf.maskHigh == leaf.high, low & leaf.maskLow == leaf.low {
                    best = leaf.entry
                }
                break
            }
            index = LPMStorage.entryIndexIPv6(
                node: Int(node), chunk: LPMStorage.chunk(high, low, depth: depth))
            let entry = LPMPages.word(entries, index)
            if entry != 0 { best = entry }
            node = LPMPages.word(children, index)
            depth += 8
        }
        return UInt16(truncatingIfNeeded: best)
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

    /// Gives back the spare capacity that growth by doubling left in the IPv6 leaf array.
    func shrinkToFit() {
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
        usage.firstLevel = LPMChunk.chunkCount * (MemoryLayout<UInt>.stride + 8)
        for index in 0..<LPMChunk.chunkCount where chunks[index] != LPMChunk.zero {
            usage.firstLevel += LPMChunk.bytes
        }
        usage.blocks = blockPages.memoryBytes
        usage.blocks += blockPrefixCounts.capacity * MemoryLayout<Int32>.stride
        usage.blocks += freeBlocks.capacity * MemoryLayout<Int>.stride
        usage.nodesIPv6 = entriesIPv6.memoryBytes + childrenIPv6.memoryBytes
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
