// IPv4 updates of the DIR-24-8 table. An entry records the length of the
// prefix that owns it, so an insert overwrites only entries owned by prefixes
// no longer than itself, and a delete rewrites only the entries it owned.

#if canImport(Glibc)
    import Glibc
#endif

extension LPMStorage {
    @inline(__always)
    static func maskIPv4(_ length: Int) -> UInt32 {
        length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
    }

    func insertIPv4(_ address: UInt32, length: Int, value: UInt16) {
        let isNew = ribIPv4[length].updateValue(value, forKey: address) == nil
        if isNew { countIPv4 += 1 }
        writeIPv4(address, length: length, value: value, isNew: isNew)
    }

    func removeIPv4(_ address: UInt32, length: Int) -> UInt16? {
        guard let old = ribIPv4[length].removeValue(forKey: address) else { return nil }
        countIPv4 -= 1

        // The longest shorter prefix that covers this one takes its entries back.
        var replacement: UInt32 = 0
        for shorter in stride(from: length - 1, through: 0, by: -1) {
            if let value = ribIPv4[shorter][address & LPMStorage.maskIPv4(shorter)] {
                replacement = LPMEntry.make(value: value, length: shorter)
                break
            }
        }

        if length <= 24 {
            let first = Int(address >> 8)
            for slot in first..<(first + 1 << (24 - length)) {
                let entry = readSlot(slot)
                if entry & LPMEntry.blockFlag != 0 {
                    let block = Int(entry & ~LPMEntry.blockFlag)
                    guard ownsAny(readBlock(block), 0..<LPMStorage.blockSize, length) else {
                        continue
                    }
                    let entries = writableBlock(block)
                    for index in 0..<LPMStorage.blockSize
                    where LPMEntry.isOwned(entries[index], byLength: length) {
                        entries[index] = replacement
                    }
                } else if LPMEntry.isOwned(entry, byLength: length) {
                    writeSlot(slot, replacement)
                }
            }
            return old
        }

        // A prefix longer than /24 is in the block of its /24. The block goes back to the
        // pool when it contains no such prefix any more, because then all its entries are equal.
        let slot = Int(address >> 8)
        let block = Int(readSlot(slot) & ~LPMEntry.blockFlag)
        let entries = writableBlock(block)
        let first = Int(address & 0xFF)
        for index in first..<(first + 1 << (32 - length))
        where LPMEntry.isOwned(entries[index], byLength: length) {
            entries[index] = replacement
        }
        blockPrefixCounts[block] -= 1
        if blockPrefixCounts[block] == 0 {
            writeSlot(slot, entries[0])
            freeBlocks.append(block)
        }
        return old
    }

    /// True when an entry of `block` in `range` is owned by a prefix of `length` bits.
    private func ownsAny(_ block: UnsafeMutablePointer<UInt32>, _ range: Range<Int>, _ length: Int)
        -> Bool
    {
        range.contains { LPMEntry.isOwned(block[$0], byLength: length) }
    }

    /// Writes a prefix whose RIB entry is already set. `isNew` is false when it replaces the
    /// SGT of an equal prefix, which must not count twice in its block.
    func writeIPv4(_ address: UInt32, length: Int, value: UInt16, isNew: Bool) {
        let entry = LPMEntry.make(value: value, length: length)
        if length <= 24 {
            let first = Int(address >> 8)
            for slot in first..<(first + 1 << (24 - length)) {
                let current = readSlot(slot)
                if current & LPMEntry.blockFlag != 0 {
                    let entries = writableBlock(Int(current & ~LPMEntry.blockFlag))
                    for index in 0..<LPMStorage.blockSize
                    where LPMEntry.length(entries[index]) <= length {
                        entries[index] = entry
                    }
                } else if LPMEntry.length(current) <= length, current != entry {
                    writeSlot(slot, entry)
                }
            }
            return
        }

        // Longer than /24: into the block of its /24, made from the slot on first use.
        let slot = Int(address >> 8)
        var current = readSlot(slot)
        if current & LPMEntry.blockFlag == 0 {
            let block = allocateBlock(filledWith: current)
            current = LPMEntry.blockFlag | UInt32(block)
            writeSlot(slot, current)
        }
        let block = Int(current & ~LPMEntry.blockFlag)
        if isNew { blockPrefixCounts[block] += 1 }
        let entries = writableBlock(block)
        let first = Int(address & 0xFF)
        for index in first..<(first + 1 << (32 - length))
        where LPMEntry.length(entries[index]) <= length {
            entries[index] = entry
        }
    }

    /// Takes a block from the free list or the end of the pool, growing the pool by
    /// doubling of its page array, and fills it with `entry`.
    private func allocateBlock(filledWith entry: UInt32) -> Int {
        let block: Int
        if let reused = freeBlocks.popLast() {
            block = reused
        } else {
            if blockCount == blockPages.count << LPMChunk.blockShift {
                appendPage(&blockPages, zeroed: false)
            }
            block = blockCount
            blockCount += 1
            blockPrefixCounts.append(0)
        }
        writableBlock(block).update(repeating: entry, count: LPMStorage.blockSize)
        blockPrefixCounts[block] = 0
        return block
    }
}
