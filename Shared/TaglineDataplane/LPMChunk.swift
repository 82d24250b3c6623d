// The 16 KiB pieces the IPv4 side of LPMTable is made of, so that a table
// and the snapshots published from it share every piece a change does not
// touch.
//
// The first level (2^24 slots) is 4096 chunks of 4096 slots, found through
// an array of 4096 chunk pointers. The second-level blocks sit 16 to a page
// of the same size, found through an array of page pointers, and so do the
// IPv6 trie's entries and children (16 nodes to a page). A chunk no prefix
// covers is one shared zero chunk that is never written.
//
// A table owns the pieces it allocated since its last snapshot. A piece
// from before that is shared, so the table copies it before the first
// write. The piece it replaces goes to the latest snapshot, which frees it
// when it is released. Snapshots hold their successor, so they are released
// oldest first, and each piece outlives every snapshot that can reach it.

import CTaglineShim

#if canImport(Glibc)
    import Glibc
#endif

/// Allocation of first-level chunks and block pages, with a count of the live ones.
@usableFromInline
enum LPMChunk {
    /// UInt32 entries per chunk or page: 16 KiB.
    static let entries = 4096
    static let bytes = entries * MemoryLayout<UInt32>.stride
    /// First-level slots per chunk, as a shift of the slot index.
    @usableFromInline static let slotShift = 12
    @usableFromInline static let slotMask = entries - 1
    /// Chunks in the first level.
    static let chunkCount = (1 << 24) >> slotShift
    /// 256-entry blocks per page, as a shift of the block index.
    @usableFromInline static let blockShift = 4
    @usableFromInline static let blockMask = (1 << blockShift) - 1

    /// The chunk every slot without a prefix points at; all zero and never written.
    static let zero: UnsafeMutablePointer<UInt32> = {
        guard let raw = calloc(entries, MemoryLayout<UInt32>.stride) else {
            fatalError("LPMTable: calloc of the zero chunk failed")
        }
        return raw.bindMemory(to: UInt32.self, capacity: entries)
    }()

    /// Chunks and pages allocated and not yet freed, in all tables and snapshots.
    private static let live: UnsafeMutablePointer<UInt64> = {
        let pointer = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return pointer
    }()

    static var liveCount: Int { Int(truncatingIfNeeded: tagline_atomic_load_u64(live)) }

    /// Allocates a piece holding a copy of `source`'s entries, or uninitialized entries.
    static func allocate(copying source: UnsafeMutablePointer<UInt32>?)
        -> UnsafeMutablePointer<UInt32>
    {
        guard let raw = malloc(bytes) else {
            fatalError("LPMTable: malloc of a 16 KiB chunk failed")
        }
        let piece = raw.bindMemory(to: UInt32.self, capacity: entries)
        if let source { piece.update(from: source, count: entries) }
        _ = tagline_atomic_fetch_add_u64(live, 1)
        return piece
    }

    static func release(_ piece: UnsafeMutablePointer<UInt32>) {
        precondition(piece != zero, "LPMTable: the zero chunk is never freed")
        free(piece)
        _ = tagline_atomic_fetch_add_u64(live, UInt64.max)
    }

    /// Allocates an array of `count` piece pointers, each set to the zero chunk.
    static func allocatePointers(_ count: Int) -> UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    {
        let pointers = UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>.allocate(
            capacity: max(count, 1))
        pointers.initialize(repeating: zero, count: max(count, 1))
        return pointers
    }

    /// Looks up an IPv4 address (host order) in a first level and its block pages.
    @inlinable @inline(__always)
    static func lookupIPv4(
        _ address: UInt32, chunks: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>,
        pages: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    ) -> UInt16 {
        let slotIndex = Int(address >> 8)
        let slot = chunks[slotIndex >> slotShift][slotIndex & slotMask]
        if slot & LPMEntry.blockFlag == 0 { return UInt16(truncatingIfNeeded: slot) }
        let block = Int(slot & ~LPMEntry.blockFlag)
        let page = pages[block >> blockShift]
        return UInt16(truncatingIfNeeded: page[(block & blockMask) << 8 | Int(address & 0xFF)])
    }
}

/// A growable array of UInt32 words in 16 KiB pages that snapshots share: the IPv4 blocks
/// and the IPv6 node arrays. The owning LPMStorage copies, appends and frees the pages.
@usableFromInline
struct LPMPages {
    /// `capacity` page pointers, the first `count` in use.
    @usableFromInline var pointers = LPMChunk.allocatePointers(0)
    /// The generation that allocated each page in use.
    var owners: [UInt64] = []
    var capacity = 0

    var count: Int { owners.count }

    /// Words in the pages in use.
    var wordCount: Int { count << LPMChunk.slotShift }

    var memoryBytes: Int {
        count * LPMChunk.bytes + capacity * MemoryLayout<UInt>.stride
            + owners.capacity * MemoryLayout<UInt64>.stride
    }

    /// Reads word `index` of the pages behind `pointers`.
    @inline(__always)
    static func word(_ pointers: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>, _ index: Int)
        -> UInt32
    {
        pointers[index >> LPMChunk.slotShift][index & LPMChunk.slotMask]
    }

    @inline(__always)
    func word(_ index: Int) -> UInt32 { LPMPages.word(pointers, index) }
}
