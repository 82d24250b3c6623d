// Anti-replay window for 32-bit ESP sequence numbers (RFC 4303 §3.4.3),
// kept as a ring of 64-bit blocks as RFC 6479 describes, so sliding the
// window clears whole blocks instead of shifting a bitmap.
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
    static let blockBits = 64

    /// Width in packets; a multiple of 64.
    public let size: Int
    /// Highest sequence number recorded; 0 before the first packet.
    public private(set) var highest: UInt32 = 0
    private var blocks: [UInt64]

    /// Creates a window of `size` packets, rounded up to a multiple of 64.
    public init(size: Int = ReplayWindow.defaultSize) {
        precondition(size > 0, "replay window size must be positive")
        let blockCount = (size + ReplayWindow.blockBits - 1) / ReplayWindow.blockBits
        self.size = blockCount * ReplayWindow.blockBits
        // One spare block, so the block being cleared by a slide is never inside the window.
        self.blocks = [UInt64](repeating: 0, count: blockCount + 1)
    }

    /// Tells whether `sequence` would be accepted, without recording it.
    public func check(_ sequence: UInt32) -> Verdict {
        if sequence == 0 { return .zero }
        if sequence > highest { return .accept }
        if highest - sequence >= UInt32(size) { return .tooOld }
        let (block, mask) = position(of: sequence)
        return blocks[block] & mask != 0 ? .duplicate : .accept
    }

    /// Records `sequence` after its ICV verified; returns the same verdict as `check`,
    /// and records nothing unless it is `.accept`.
    @discardableResult
    public mutating func record(_ sequence: UInt32) -> Verdict {
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
    private mutating func slide(to sequence: UInt32) {
        let currentBlock = Int(highest) / ReplayWindow.blockBits
        let newBlock = Int(sequence) / ReplayWindow.blockBits
        let blocksToClear = min(newBlock - currentBlock, blocks.count)
        var index = currentBlock
        for _ in 0..<blocksToClear {
            index += 1
            blocks[index % blocks.count] = 0
        }
        highest = sequence
    }

    private func position(of sequence: UInt32) -> (block: Int, mask: UInt64) {
        let bit = Int(sequence)
        let block = (bit / ReplayWindow.blockBits) % blocks.count
        return (block, UInt64(1) << UInt64(bit % ReplayWindow.blockBits))
    }
}
