// A read-only view of an LPMTable for the workers. Taking one costs a copy
// of the pointer arrays: 32 KiB for the IPv4 first level, plus 8 bytes per
// page of 16 IPv4 blocks or 16 IPv6 nodes. The chunks and pages themselves are shared with the table, which
// copies a piece before writing it once a snapshot can see it. The IPv6
// node arrays are pages too; the IPv6 leaf records are one Swift array,
// copied whole by the first change to a leaf after a snapshot.

import TaglineCore

/// An immutable IPv4 and IPv6 longest-prefix-match table, sharing storage with the
/// LPMTable it was taken from.
public final class LPMSnapshot: @unchecked Sendable {
    @usableFromInline let chunks: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    @usableFromInline let pages: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    @usableFromInline let entriesIPv6: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    @usableFromInline let childrenIPv6: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    @usableFromInline let hasIPv6: Bool
    @usableFromInline let leavesIPv6: [LeafIPv6]
    /// Number of prefixes stored, IPv4 and IPv6 together.
    public let count: Int
    /// The snapshot taken next from the same table. Holding it makes snapshots go away
    /// oldest first, which `piecesToFree` relies on. Control thread only.
    var successor: LPMSnapshot?
    /// Chunks and pages this snapshot and older ones still show but the table has
    /// replaced; freed with this snapshot. Control thread only.
    var piecesToFree: [UnsafeMutablePointer<UInt32>] = []

    init(
        chunks: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>,
        blockPages: LPMPages, entriesIPv6: LPMPages, childrenIPv6: LPMPages,
        leavesIPv6: [LeafIPv6], count: Int
    ) {
        self.chunks = .allocate(capacity: LPMChunk.chunkCount)
        self.chunks.initialize(from: chunks, count: LPMChunk.chunkCount)
        pages = LPMSnapshot.copyPointers(blockPages)
        self.entriesIPv6 = LPMSnapshot.copyPointers(entriesIPv6)
        self.childrenIPv6 = LPMSnapshot.copyPointers(childrenIPv6)
        hasIPv6 = entriesIPv6.count > 0
        self.leavesIPv6 = leavesIPv6
        self.count = count
    }

    deinit {
        for piece in piecesToFree { LPMChunk.release(piece) }
        chunks.deallocate()
        pages.deallocate()
        entriesIPv6.deallocate()
        childrenIPv6.deallocate()
        // A long chain of successors with no other reference is released one at a time,
        // not by recursion in deinit.
        var next = successor
        successor = nil
        while isKnownUniquelyReferenced(&next) {
            let following = next!.successor
            next!.successor = nil
            next = following
        }
    }

    private static func copyPointers(_ pages: LPMPages)
        -> UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    {
        let pointers = UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>.allocate(
            capacity: max(pages.count, 1))
        pointers.initialize(from: pages.pointers, count: pages.count)
        return pointers
    }

    /// Returns the SGT of the longest prefix that contains `address`, or nil. Inlined, so that
    /// an IPv4 lookup on the packet path makes no call.
    @inlinable @inline(__always)
    public func lookup(_ address: IPAddress) -> SGT? {
        switch address {
        case .v4(let value):
            return lookupIPv4(value)
        case .v6(let high, let low):
            return SGT(
                LPMStorage.lookupIPv6(
                    high, low, entries: entriesIPv6, children: childrenIPv6, isEmpty: !hasIPv6,
                    leaves: leavesIPv6))
        }
    }

    /// Returns the SGT of the longest IPv4 prefix that contains `address` (host order), or nil.
    @inlinable @inline(__always)
    public func lookupIPv4(_ address: UInt32) -> SGT? {
        SGT(LPMChunk.lookupIPv4(address, chunks: chunks, pages: pages))
    }
}
