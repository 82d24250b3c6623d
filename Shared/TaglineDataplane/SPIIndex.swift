// The inbound SAs by SPI, in an open-addressing table. A Swift Dictionary
// hashes each UInt32 key with seeded SipHash, about 120 instructions per lookup
// with the bucket search (callgrind, tagline-bench pipeline). The receiver
// chooses its inbound SPIs (RFC 4303 §2.1), and ChildSAStore.allocateSPI draws
// them at random, so a multiplicative hash spreads them well and a lookup costs
// a multiply and a compare or two. Linear probing keeps clustered SPIs correct.

/// Inbound SAs keyed by SPI: linear probing over a power-of-two array at most half full,
/// built once with its table and read without locks.
struct SPIIndex {
    private let spis: [UInt32]
    private let states: [SAState?]
    /// The same states without ownership, for lookups that borrow them from `states`.
    private let unretained: [Unmanaged<SAState>?]
    private let mask: Int

    init(_ states: [UInt32: SAState]) {
        var capacity = 8
        while capacity < 2 * states.count { capacity *= 2 }
        var spis = [UInt32](repeating: 0, count: capacity)
        var slots = [SAState?](repeating: nil, count: capacity)
        mask = capacity - 1
        for (spi, state) in states {
            var index = SPIIndex.slot(of: spi, mask: mask)
            while slots[index] != nil { index = (index + 1) & mask }
            spis[index] = spi
            slots[index] = state
        }
        self.spis = spis
        self.states = slots
        unretained = slots.map { $0.map(Unmanaged.passUnretained) }
    }

    /// Returns the SA whose inbound SPI is `spi`, or nil.
    @inline(__always)
    func state(spi: UInt32) -> SAState? {
        var index = SPIIndex.slot(of: spi, mask: mask)
        // The table is at most half full, so an empty slot ends every probe sequence.
        while let state = states[index] {
            if spis[index] == spi { return state }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Returns the state of `spi` like `state(spi:)`, without a retain. It is valid while this
    /// index lives.
    @inline(__always)
    func unretainedState(spi: UInt32) -> Unmanaged<SAState>? {
        var index = SPIIndex.slot(of: spi, mask: mask)
        while let state = unretained[index] {
            if spis[index] == spi { return state }
            index = (index + 1) & mask
        }
        return nil
    }

    @inline(__always)
    private static func slot(of spi: UInt32, mask: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(spi) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }
}
