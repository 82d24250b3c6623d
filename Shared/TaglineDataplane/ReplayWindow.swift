// Anti-replay window for ESP sequence numbers (RFC 4303 §3.4.3), kept as a
// ring of 64-bit blocks as RFC 6479 describes, so sliding the window clears
// whole blocks instead of shifting a bitmap.
//
// Sequence numbers are 64-bit values. Without extended sequence numbers
// (ESN) the high 32 bits are always 0. With ESN only the low 32 bits travel
// in the packet, and `infer(low:)` rebuilds the high 32 bits from the window
// position as RFC 4303 Appendix A2.2 describes.
//
// The receiver checks a sequence number before the ICV (cheap rejection of
// replays) and records it only after the ICV verified, so forged packets
// cannot move the window.

/// The set of recently received sequence numbers of one inbound SA.
public struct ReplayWindow: Sendable {
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
    /// Largest width, 8 KiB of bitmap per SA.
    public static let maximumSize = 65536
    static let blockBits = 64

    /// Width in packets: the highest recorded number and the `size - 1` below it.
    public let size: Int
    /// True when the high 32 bits are inferred (ESN); false keeps them at 0.
    public let extendedSequenceNumbers: Bool
    /// Highest sequence number recorded; 0 before the first packet.
    public private(set) var highest: UInt64 = 0
    private var blocks: [UInt64]

    /// Creates a window of `size` packets, clamped to `minimumSize...maximumSize`.
    public init(size: Int = ReplayWindow.defaultSize, extendedSequenceNumbers: Bool = false) {
        let width = min(max(size, ReplayWindow.minimumSize), ReplayWindow.maximumSize)
        self.size = width
        self.extendedSequenceNumbers = extendedSequenceNumbers
        let blockCount = (width + ReplayWindow.blockBits - 1) / ReplayWindow.blockBits
        // One spare block, so the block being cleared by a slide is never inside the window.
        self.blocks = [UInt64](repeating: 0, count: blockCount + 1)
    }

    /// Returns the full sequence number of a packet that carries `low`.
    ///
    /// Without ESN this is `low`. With ESN the high 32 bits start as those of
    /// the highest recorded number (RFC 4303 Appendix A2.2). They are one more
    /// when `low` lies below the window's left edge, because the counter
    /// wrapped since. They are one less when the window spans a wrap and `low`
    /// lies in its upper part.
    public func infer(low: UInt32) -> UInt64 {
        guard extendedSequenceNumbers else { return UInt64(low) }
        // TODO: resynchronize after 2^32 or more lost packets (RFC 4303 Appendix A3).
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

    /// Tells whether `sequence` would be accepted, without recording it.
    public func check(_ sequence: UInt64) -> Verdict {
        if sequence == 0 { return .zero }
        if sequence > highest { return .accept }
        if highest - sequence >= UInt64(size) { return .tooOld }
        let (block, mask) = position(of: sequence)
        return blocks[block] & mask != 0 ? .duplicate : .accept
    }

    /// Records `sequence` after its ICV verified; returns the same verdict as `check`,
    /// and records nothing unless it is `.accept`.
    @discardableResult
    public mutating func record(_ sequence: UInt64) -> Verdict {
        let verdict = check(sequence)
        guard verdict == .accept else { return verdict }
        if sequence > highest {
            slide(to: sequence)
        }
        let (block, mask) = position(of: sequence)
        blocks[block] |= mask
        return .accept
    }

    /// Moves the right edge to `sequence`, clearing the blocks that enter the window.
    private mutating func slide(to sequence: UInt64) {
        let blockBits = UInt64(ReplayWindow.blockBits)
        let currentBlock = highest / blockBits
        let newBlock = sequence / blockBits
        let blocksToClear = Int(min(newBlock - currentBlock, UInt64(blocks.count)))
        var index = Int(currentBlock % UInt64(blocks.count))
        for _ in 0..<blocksToClear {
            index = (index + 1) % blocks.count
            blocks[index] = 0
        }
        highest = sequence
    }

    private func position(of sequence: UInt64) -> (block: Int, mask: UInt64) {
        let blockBits = UInt64(ReplayWindow.blockBits)
        let block = Int((sequence / blockBits) % UInt64(blocks.count))
        return (block, UInt64(1) << (sequence % blockBits))
    }
}
