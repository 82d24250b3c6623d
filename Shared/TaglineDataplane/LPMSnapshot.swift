// A read-only view of an LPMTable for the workers. Taking one costs a copy
// of the two IPv4 pointer arrays (32 KiB, plus 8 bytes per page of 16
// blocks). The chunks and pages themselves are shared with the table, which
// copies a piece before writing it once a snapshot can see it. The IPv6
// arrays are shared the same way as whole Swift arrays.

import TaglineCore

/// An immutable IPv4 and IPv6 longest-prefix-match table, sharing storage with the
/// LPMTable it was taken from.
public final class LPMSnapshot: @unchecked Sendable {
    @usableFromInline let chunks: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    @usableFromInline let pages: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>
    @usableFromInline let entriesIPv6: [UInt32]
    @usableFromInline let childrenIPv6: [UInt32]
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
        pages: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>>, pageCount: Int,
        entriesIPv6: [UInt32], childrenIPv6: [UInt32], leavesIPv6: [LeafIPv6], count: Int
    ) {
        self.chunks = .allocate(capacity: LPMChunk.chunkCount)
        self.chunks.initialize(from: chunks, count: LPMChunk.chunkCount)
        self.pages = .allocate(capacity: max(pageCount, 1))
        self.pages.initialize(from: pages, count: pageCount)
        self.entriesIPv6 = entriesIPv6
        self.childrenIPv6 = childrenIPv6
        self.leavesIPv6 = leavesIPv6
        self.count = count
    }

    deinit {
        for piece in piecesToFree { LPMChunk.release(piece) }
        chunks.deallocate()
        pages.deallocate()
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

    /// Returns the SGT of the longest prefix that contains `address`, or nil.
    @inlinable
    public func lookup(_ address: IPAddress) -> SGT? {
        switch address {
        case .v4(let value):
            return SGT(LPMChunk.lookupIPv4(value, chunks: chunks, pages: pages))
        case .v6(let high, let low):
            return SGT(
                LPMStorage.lookupIPv6(
                    high, low, entries: entriesIPv6, children: childrenIPv6, leaves: leavesIPv6))
        }
    }

    /// Returns the SGT of the longest IPv4 prefix that contains `address` (host order), or nil.
    @inlinable
    public func lookupIPv4(_ address: UInt32) -> SGT? {
        SGT(LPMChunk.lookupIPv4(address, chunks: chunks, pages: pages))
    }
}
