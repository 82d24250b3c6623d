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

        let slots = slots!
        if length <= 24 {
            let first = Int(address >> 8)
            for slot in first..<(first + 1 << (24 - length)) {
                let entry = slots[slot]
                if entry & LPMEntry.blockFlag != 0 {
                    let blocks = blocks!
                    let base = Int(entry & ~LPMEntry.blockFlag) * LPMStorage.blockSize
                    for index in base..<(base + LPMStorage.blockSize)
                    where LPMEntry.isOwned(blocks[index], byLength: length) {
                        blocks[index] = replacement
                    }
                } else if LPMEntry.isOwned(entry, byLength: length) {
                    slots[slot] = replacement
                }
            }
            return old
        }

        // A prefix longer than /24 is in the block of its /24. The block goes back to the
        // pool when it contains no such prefix any more, because then all its entries are equal.
        let slot = Int(address >> 8)
        let blocks = blocks!
        let block = Int(slots[slot] & ~LPMEntry.blockFlag)
        let base = block * LPMStorage.blockSize
        let first = base + Int(address & 0xFF)
        for index in first..<(first + 1 << (32 - length))
        where LPMEntry.isOwned(blocks[index], byLength: length) {
            blocks[index] = replacement
        }
        blockPrefixCounts[block] -= 1
        if blockPrefixCounts[block] == 0 {
            slots[slot] = blocks[base]
            freeBlocks.append(block)
        }
        return old
    }

    /// Writes a prefix whose RIB entry is already set. `isNew` is false when it replaces the
    /// SGT of an equal prefix, which must not count twice in its block.
    func writeIPv4(_ address: UInt32, length: Int, value: UInt16, isNew: Bool) {
        if slots == nil { slots = LPMStorage.allocateSlots() }
        let slots = slots!
        let entry = LPMEntry.make(value: value, length: length)
        if length <= 24 {
            let first = Int(address >> 8)
            for slot in first..<(first + 1 << (24 - length)) {
                let current = slots[slot]
                if current & LPMEntry.blockFlag != 0 {
                    let blocks = blocks!
                    let base = Int(current & ~LPMEntry.blockFlag) * LPMStorage.blockSize
                    for index in base..<(base + LPMStorage.blockSize)
                    where LPMEntry.length(blocks[index]) <= length {
                        blocks[index] = entry
                    }
                } else if LPMEntry.length(current) <= length {
                    slots[slot] = entry
                }
            }
            return
        }

        // Longer than /24: into the block of its /24, made from the slot on first use.
        let slot = Int(address >> 8)
        var current = slots[slot]
        if current & LPMEntry.blockFlag == 0 {
            let block = allocateBlock(filledWith: current)
            current = LPMEntry.blockFlag | UInt32(block)
            slots[slot] = current
        }
        let block = Int(current & ~LPMEntry.blockFlag)
        if isNew { blockPrefixCounts[block] += 1 }
        let blocks = blocks!
        let first = block * LPMStorage.blockSize + Int(address & 0xFF)
        for index in first..<(first + 1 << (32 - length))
        where LPMEntry.length(blocks[index]) <= length {
            blocks[index] = entry
        }
    }

    /// Takes a block from the free list or the end of the pool, growing the pool by
    /// doubling, and fills it with `entry`.
    private func allocateBlock(filledWith entry: UInt32) -> Int {
        let block: Int
        if let reused = freeBlocks.popLast() {
            block = reused
        } else {
            if blockCount == blockCapacity {
                let capacity = max(64, blockCapacity * 2)
                let bytes = capacity * LPMStorage.blockSize * MemoryLayout<UInt32>.stride
                guard let raw = realloc(blocks, bytes) else {
                    fatalError("LPMTable: realloc of \(capacity) IPv4 blocks failed")
                }
                blocks = raw.bindMemory(to: UInt32.self, capacity: capacity * LPMStorage.blockSize)
                blockCapacity = capacity
            }
            block = blockCount
            blockCount += 1
            blockPrefixCounts.append(0)
        }
        let base = block * LPMStorage.blockSize
        (blocks! + base).update(repeating: entry, count: LPMStorage.blockSize)
        blockPrefixCounts[block] = 0
        return block
    }
}
