// Anti-replay window for ESP sequence numbers (RFC 4303 §3.4.3), kept as a
// ring of 64-bit words indexed by sequence number as RFC 6479 describes, so
// sliding the window never shifts a bitmap. Workers that receive the same SA
// share one window without a lock.
//
// Each word covers 16 sequence numbers: its low 16 bits are the bitmap and
// its high 48 bits the low 48 bits of the block number (sequence >> 4) the
// bitmap belongs to. A word left untouched while the top moves on keeps its
// old block number, so the tag must not repeat within any distance a sender
// can reach. 48 bits repeat only after 2^52 numbers, about 1.4 years at
// 10^8 packets per second on one SA. 32 bits would repeat after an ESN jump
// of 2^37, and the stale bits would then drop new packets as duplicates.
// The highest sequence number is advanced by compare-and-swap. The first packet recorded in a block replaces the stale
// word of the block that slid out, with one compare-and-swap that also sets
// its bit. With in-order traffic that is the packet that advanced the top.
// Clearing a word by a plain store after the top moved could erase a bit
// that another worker had just set for the new block, and then that sequence
// number would be accepted twice. The block number in the word makes that
// race visible, so a bit is set only in a word that belongs to its block.
//
// Sequence numbers are 64-bit values. Without extended sequence numbers
// (ESN) the high 32 bits are always 0. With ESN only the low 32 bits travel
// in the packet, and `infer(low:)` rebuilds the high 32 bits from the window
// position as RFC 4303 Appendix A2.2 describes.
//
// The receiver checks a sequence number before the ICV (cheap rejection of
// replays) and records it only after the ICV verified, so forged packets
// cannot move the window. `record` decides alone: of several workers
// recording the same number at once, exactly one gets `.accept`.

import CTaglineShim

/// The set of recently received sequence numbers of one inbound SA, safe to check and
/// record from several threads at once.
public final class ReplayWindow: @unchecked Sendable {
    /// Verdict on one sequence number.
    public enum Verdict: Equatable, Sendable {
        case accept
        /// Already received inside the window.
        case duplicate
        /// Left of the window, so too old to tell.
        case tooOld
        /// Sequence number 0, which a sender never uses (the first packet has 1).
        case zero
    }

    /// Default width in packets.
    public static let defaultSize = 1024
    /// Smallest width: RFC 4303 §3.4.3 requires at least 32 packets.
    public static let minimumSize = 32
    /// Largest width, 64 KiB of words per SA.
    public static let maximumSize = 65536
    /// Sequence numbers per word, the bitmap part of the word.
    static let blockBits: UInt64 = 16
    static let blockShift: UInt64 = 4
    /// The block number part of the word, above the bitmap.
    private static let blockTagMask: UInt64 = 0xFFFF_FFFF_FFFF_0000

    /// Width in packets: the highest recorded number and the `size - 1` below it.
    public let size: Int
    /// True when the high 32 bits are inferred (ESN); false keeps them at 0.
    public let extendedSequenceNumbers: Bool
    /// Number of words, a power of two.
    let wordCount: Int
    /// `UInt64(size)`, kept to spare a conversion per packet.
    private let width: UInt64
    private let wordIndexMask: UInt64
    /// The highest recorded sequence number alone on the first 64-byte line, then the words.
    private let storage: UnsafeMutablePointer<UInt64>
    private static let wordsOffset = 8

    /// Creates a window of `size` packets, clamped to `minimumSize...maximumSize`.
    ///
    /// The ring has room for one block more than the window can touch. A word then belongs
    /// to a newer block only when every number of its older block is left of the window,
    /// which lets `record` tell a stale word from a newer one by loading the top alone.
    public init(size: Int = ReplayWindow.defaultSize, extendedSequenceNumbers: Bool = false) {
        let width = min(max(size, ReplayWindow.minimumSize), ReplayWindow.maximumSize)
        self.size = width
        self.width = UInt64(width)
        self.extendedSequenceNumbers = extendedSequenceNumbers
        let blocksNeeded = (width + Int(ReplayWindow.blockBits) - 1) / Int(ReplayWindow.blockBits)
        var count = 1
        while count < blocksNeeded + 1 { count <<= 1 }
        wordCount = count
        wordIndexMask = UInt64(count - 1)
        storage = .allocate(capacity: ReplayWindow.wordsOffset + count)
        storage.initialize(repeating: 0, count: ReplayWindow.wordsOffset + count)
    }

    deinit { storage.deallocate() }

    /// Highest sequence number recorded; 0 before the first packet.
    public var highest: UInt64 { tagline_atomic_load_u64(storage) }

    /// Returns the full sequence number of a packet that carries `low`.
    ///
    /// Without ESN this is `low`. With ESN the high 32 bits start as those of
    /// the highest recorded number (RFC 4303 Appendix A2.2). They are one more
    /// when `low` lies below the window's left edge, because the counter
    /// wrapped since. They are one less when the window spans a wrap and `low`
    /// lies in its upper part.
    @inline(__always)
    public func infer(low: UInt32) -> UInt64 {
        guard extendedSequenceNumbers else { return UInt64(low) }
        let highest = self.highest
        let highestLow = UInt32(truncatingIfNeeded: highest)
        let highestHigh = UInt32(truncatingIfNeeded: highest >> 32)
        // Low 32 bits of the left edge; it wraps below 0 when the window spans two subspaces.
        let leftEdgeLow = highestLow &- UInt32(size - 1)
        var high = highestHigh
        if highestLow >= UInt32(size - 1) {
            // The window lies in one subspace: below its left edge means the next subspace.
            if low < leftEdgeLow { high = highestHigh &+ 1 }
        } else if low >= leftEdgeLow, highestHigh > 0 {
            // The window spans a wrap and `low` belongs to the older subspace.
            high = highestHigh - 1
        }
        return UInt64(high) << 32 | UInt64(low)
    }

    /// Tells whether `sequence` would be accepted, without recording it. Another thread may
    /// record it in between, so only `record` decides.
    @inline(__always)
    public func check(_ sequence: UInt64) -> Verdict {
        if sequence == 0 { return .zero }
        let top = highest
        if sequence > top { return .accept }
        if top - sequence >= width { return .tooOld }
        let word = tagline_atomic_load_u64(wordPointer(sequence))
        let (tag, bit) = ReplayWindow.tagAndBit(sequence)
        return word & ReplayWindow.blockTagMask == tag && word & bit != 0 ? .duplicate : .accept
    }

    /// Records `sequence` after its ICV verified. Returns `.accept` when this call set its bit,
    /// and otherwise the reason, having recorded nothing.
    @discardableResult
    @inline(__always)
    public func record(_ sequence: UInt64) -> Verdict {
        if sequence == 0 { return .zero }

        // Advance the top first, so that any word holding this block is written only after the
        // top covers it.
        var top = highest
        while sequence > top {
            let found = tagline_atomic_compare_exchange_previous_u64(storage, top, sequence)
            if found == top {
                top = sequence
                break
            }
            top = found
        }
        if top - sequence >= width { return .tooOld }

        // Set the bit. The compare-and-swap fails when another thread changed the word since
        // the load, and the loop decides again on the value it found.
        let slot = wordPointer(sequence)
        let (tag, bit) = ReplayWindow.tagAndBit(sequence)
        var word = tagline_atomic_load_u64(slot)
        while true {
            let desired: UInt64
            if word & ReplayWindow.blockTagMask == tag {
                if word & bit != 0 { return .duplicate }
                desired = word | bit
            } else {
                // The word holds another block. It is older unless the top has moved so far
                // that this number left the window, and then the word may be newer.
                if highest - sequence >= width { return .tooOld }
                desired = tag | bit
            }
            let found = tagline_atomic_compare_exchange_previous_u64(slot, word, desired)
            if found == word { return .accept }
            word = found
        }
    }

    @inline(__always)
    private func wordPointer(_ sequence: UInt64) -> UnsafeMutablePointer<UInt64> {
        let index = (sequence >> ReplayWindow.blockShift) & wordIndexMask
        return storage + ReplayWindow.wordsOffset + Int(truncatingIfNeeded: index)
    }

    /// Returns the block tag (the word above its bitmap) and the bitmap bit of `sequence`. The
    /// tag keeps 48 bits of the block number, so a stale word is mistaken for a newer block
    /// only 2^52 sequence numbers later.
    @inline(__always)
    private static func tagAndBit(_ sequence: UInt64) -> (tag: UInt64, bit: UInt64) {
        let tag = (sequence >> blockShift) << blockBits
        return (tag, UInt64(1) << (sequence & (blockBits - 1)))
    }
}
