// Longest-prefix match from IP prefixes to SGTs, sized for a million bindings.
//
// IPv4 is DIR-24-8: a first level of 2^24 UInt32 slots indexed by the top 24
// address bits, and 256-entry second-level blocks for the /24s that contain a
// prefix longer than /24. A lookup reads one slot, or one slot and one block
// entry. Blocks come from a pool and go back to it when their last longer
// prefix is removed.
//
// The first level is 4096 chunks of 4096 UInt32 slots, and the blocks sit 16
// to a page of the same 16 KiB (LPMChunk.swift). A chunk no prefix covers
// is one shared zero chunk. UInt16 slots with a block flag would halve the
// first level, but they leave 15 bits for a block index: 32,768 blocks,
// while a million random /32s need up to a million blocks. So the slots are
// UInt32.
//
// IPv6 is a multibit trie with strides 16-8-8-...-8 (16 + 14 * 8 = 128 bits).
// Each node entry stores the longest prefix that ends inside that node's
// stride, without pushing it down to child nodes, so a lookup keeps the last
// match seen on its way down. A prefix alone below a child slot is stored in
// that slot as a leaf record rather than as a chain of nodes. IPv4-mapped
// IPv6 addresses (::ffff:0:0/96) are IPv6 here and never match an IPv4 prefix.
//
// Every stored prefix is also kept in a per-length dictionary (the RIB). A
// delete uses it to find the longest shorter prefix that covers the deleted
// one and writes that prefix back into the slots the deleted one owned.
//
// Publication: the control thread keeps one LPMTable, applies changes to it
// and publishes `snapshot()`s (LPMSnapshot.swift). A snapshot shares the
// chunks and pages. The table copies one before writing it, so a batch of N
// changes costs N pieces and the pointer arrays, not the table. LPMTable
// also has value semantics: the first mutation of a copied value duplicates
// the whole storage, so holders of the other value are never disturbed.

import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// IPv4 and IPv6 prefixes mapped to SGTs, with lookups that allocate nothing.
public struct LPMTable: Sendable {
    @usableFromInline
    var storage: LPMStorage

    /// Creates an empty table; it allocates no first level until an IPv4 prefix is inserted.
    public init() {
        storage = LPMStorage()
    }

    /// Builds a table from `bindings` in one pass per prefix length. When a prefix occurs
    /// more than once, the last binding wins.
    public init<S: Sequence>(bindings: S) where S.Element == (prefix: IPPrefix, sgt: SGT) {
        storage = LPMStorage()
        storage.bulkLoad(bindings)
    }

    /// Number of prefixes stored, IPv4 and IPv6 together.
    public var count: Int { storage.countIPv4 + storage.countIPv6 }

    /// Number of 256-entry IPv4 second-level blocks in use.
    public var ipv4BlockCount: Int { storage.blocksInUse }

    /// Number of IPv6 trie nodes below the 2^16-entry root.
    public var ipv6NodeCount: Int { storage.nodeCountIPv6 }

    /// Number of IPv6 prefixes stored as leaves in child slots rather than in node entries.
    public var ipv6LeafCount: Int { storage.leavesIPv6.count - storage.freeLeavesIPv6.count }

    /// Adds `prefix`, replacing the SGT of an equal prefix already present.
    public mutating func insert(_ prefix: IPPrefix, _ sgt: SGT) {
        makeUnique()
        storage.insert(prefix, sgt.value)
    }

    /// Removes `prefix` and returns its SGT, or nil when it was not stored. Addresses it
    /// covered match the longest shorter prefix again.
    @discardableResult
    public mutating func remove(_ prefix: IPPrefix) -> SGT? {
        makeUnique()
        return storage.remove(prefix).flatMap { SGT($0) }
    }

    /// Returns a read-only view of the table as it is now, for the workers. Later changes
    /// to this table copy the pieces they touch and leave the view as it was.
    public mutating func snapshot() -> LPMSnapshot {
        makeUnique()
        return storage.snapshot()
    }

    /// IPv4 chunks and block pages allocated and not yet freed, in all tables and snapshots.
    public static var liveChunkCount: Int { LPMChunk.liveCount }

    /// Returns the SGT of the longest prefix that contains `address`, or nil.
    @inlinable
    public func lookup(_ address: IPAddress) -> SGT? {
        switch address {
        case .v4(let value): return SGT(storage.lookupIPv4(value))
        case .v6(let high, let low): return SGT(storage.lookupIPv6(high, low))
        }
    }

    /// Returns the SGT of the longest IPv4 prefix that contains `address`
    /// (host order), or nil.
    @inlinable
    public func lookupIPv4(_ address: UInt32) -> SGT? {
        SGT(storage.lookupIPv4(address))
    }

    /// Every stored prefix with its SGT, IPv4 before IPv6, each family in increasing
    /// prefix length.
    public var entries: [(prefix: IPPrefix, sgt: SGT)] {
        var result: [(prefix: IPPrefix, sgt: SGT)] = []
        result.reserveCapacity(count)
        storage.forEachPrefix { prefix, raw in
            if let sgt = SGT(raw) { result.append((prefix, sgt)) }
        }
        return result
    }

    /// Calls `body` with every stored prefix and its SGT, in the order of `entries`.
    public func forEach(_ body: (IPPrefix, SGT) -> Void) {
        storage.forEachPrefix { prefix, raw in
            if let sgt = SGT(raw) { body(prefix, sgt) }
        }
    }

    /// Allocated bytes of the lookup structures and the RIB; see `LPMMemoryUsage`.
    public var memoryBytes: Int { storage.memoryUsage.total }

    /// Allocated bytes per part of the table.
    public var memoryUsage: LPMMemoryUsage { storage.memoryUsage }

    /// `memoryBytes` divided by `count`; 0 for an empty table.
    public var bytesPerBinding: Double {
        count == 0 ? 0 : Double(memoryBytes) / Double(count)
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy()
        }
    }
}

/// Allocated bytes of an LPMTable by part.
public struct LPMMemoryUsage: Sendable {
    /// The IPv4 first level: the chunk pointer array and the chunks not shared as zero.
    public var firstLevel = 0
    /// The IPv4 block pages, with the page pointer array and bookkeeping arrays.
    public var blocks = 0
    /// The IPv6 root and nodes, at array capacity.
    public var nodesIPv6 = 0
    /// The per-length dictionaries of stored prefixes: an estimate from their capacities
    /// and element sizes.
    public var rib = 0

    public var total: Int { firstLevel + blocks + nodesIPv6 + rib }
}

/// Entry encoding shared by IPv4 slots, IPv4 block entries and IPv6 node entries.
///
/// Bits 0-15 are the SGT, 0 when no prefix owns the entry. Bits 16-23 are the length of the
/// owning prefix. In an IPv4 first-level slot, bit 31 set means bits 0-30 are a block index.
@usableFromInline
enum LPMEntry {
    @usableFromInline static let blockFlag: UInt32 = 0x8000_0000
    static let valueMask: UInt32 = 0xFFFF

    @inline(__always)
    static func make(value: UInt16, length: Int) -> UInt32 {
        UInt32(value) | UInt32(truncatingIfNeeded: length) << 16
    }

    @inline(__always)
    static func length(_ entry: UInt32) -> Int { Int((entry >> 16) & 0xFF) }

    @inline(__always)
    static func value(_ entry: UInt32) -> UInt16 { UInt16(truncatingIfNeeded: entry) }

    /// True when `entry` stores a prefix of exactly `length` bits.
    @inline(__always)
    static func isOwned(_ entry: UInt32, byLength length: Int) -> Bool {
        entry & valueMask != 0 && LPMEntry.length(entry) == length
    }
}
