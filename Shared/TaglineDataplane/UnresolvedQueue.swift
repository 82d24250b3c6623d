// Frames waiting for the link-layer address of their next hop. A router keeps
// a few packets per unresolved neighbour while it sends the ARP request or
// Neighbour Solicitation, instead of losing the first packet of every new
// path. Linux queues 3 packets per unresolved address by default (unres_qlen
// in arp(7)). Each worker owns one queue, so it needs no lock, and all of its
// storage is allocated when the worker starts.

import TaglineCore

/// Frames held per unresolved next hop, and when each hop was last solicited.
/// Not thread-safe: one worker owns it.
final class UnresolvedQueue {
    /// Maximum frames held for one next hop. More are dropped.
    static let framesPerNeighbour = 3
    /// Maximum frames held by one worker for all next hops together.
    static let frameCapacity = 64
    /// How long a frame waits for its next hop, in nanoseconds.
    static let lifetime: UInt64 = 1_000_000_000
    /// Minimum time between two solicitations of one next hop, in nanoseconds.
    static let solicitationInterval: UInt64 = 200_000_000

    /// One next hop with held frames, or one solicited recently.
    private struct Neighbour {
        var key = NeighbourKey(interfaceIndex: 0, address: .v4(0))
        var inUse = false
        /// Address seen by this worker in an ARP reply or Neighbour Advertisement, before the
        /// forwarding table has it.
        var mac: MACAddress?
        var lastSolicitation: UInt64 = 0
        /// Number of held frames, whose slots are listed in `slotsOfNeighbour`.
        var frameCount = 0
    }

    /// Largest frame a slot holds, in bytes.
    let slotSize: Int
    private let storage: UnsafeMutableRawBufferPointer
    private var lengths: [Int]
    private var heldAt: [UInt64]
    /// Free slot indices, of which the first `freeCount` are valid.
    private var freeSlots: [Int]
    private var freeCount: Int
    private var neighbours: [Neighbour]
    /// `framesPerNeighbour` slot indices per neighbour entry, oldest first.
    private var slotsOfNeighbour: [Int]
    private var neighbourCount = 0
    /// Earliest monotonic time at which `service` has work: a frame to expire, a solicitation
    /// to repeat or a resolved neighbour to send to.
    private(set) var nextDeadline = UInt64.max

    init(slotSize: Int) {
        precondition(slotSize > 0, "slot size must be positive")
        self.slotSize = slotSize
        let capacity = UnresolvedQueue.frameCapacity
        storage = .allocate(byteCount: capacity * slotSize, alignment: 16)
        lengths = [Int](repeating: 0, count: capacity)
        heldAt = [UInt64](repeating: 0, count: capacity)
        freeSlots = Array(0..<capacity)
        freeCount = capacity
        neighbours = [Neighbour](repeating: Neighbour(), count: capacity)
        slotsOfNeighbour = [Int](
            repeating: 0, count: capacity * UnresolvedQueue.framesPerNeighbour)
    }

    deinit { storage.deallocate() }

    /// True when no frame is held and no next hop is remembered.
    var isEmpty: Bool { neighbourCount == 0 }

    /// Frames held for all next hops.
    var frameCount: Int { UnresolvedQueue.frameCapacity - freeCount }

    private func find(_ key: NeighbourKey) -> Int? {
        guard neighbourCount > 0 else { return nil }
        for index in neighbours.indices where neighbours[index].inUse {
            if neighbours[index].key == key { return index }
        }
        return nil
    }

    private func allocateNeighbour(_ key: NeighbourKey) -> Int? {
        guard let index = neighbours.firstIndex(where: { !$0.inUse }) else { return nil }
        neighbours[index] = Neighbour(key: key, inUse: true, mac: nil, lastSolicitation: 0)
        neighbourCount += 1
        return index
    }

    /// Returns the address this worker learned for `key` when no frame for it is still
    /// waiting, so a new frame does not overtake the held ones.
    func resolvedMAC(for key: NeighbourKey) -> MACAddress? {
        guard let index = find(key), neighbours[index].frameCount == 0 else { return nil }
        return neighbours[index].mac
    }

    /// Tells whether one more frame for `key` fits in the next hop's share and the queue.
    func hasRoom(for key: NeighbourKey) -> Bool {
        guard freeCount > 0 else { return false }
        if let index = find(key) {
            return neighbours[index].frameCount < UnresolvedQueue.framesPerNeighbour
        }
        return neighbourCount < neighbours.count
    }

    /// Copies `frame` into a free slot for `key`. Returns false when the frame is larger than
    /// a slot or `hasRoom(for:)` is false.
    func hold(_ frame: UnsafeRawBufferPointer, for key: NeighbourKey, now: UInt64) -> Bool {
        guard frame.count <= slotSize, hasRoom(for: key),
            let index = find(key) ?? allocateNeighbour(key)
        else { return false }
        freeCount -= 1
        let slot = freeSlots[freeCount]
        UnsafeMutableRawBufferPointer(rebasing: storage[(slot * slotSize)...])
            .copyBytes(from: frame, at: 0)
        lengths[slot] = frame.count
        heldAt[slot] = now
        let position = index * UnresolvedQueue.framesPerNeighbour + neighbours[index].frameCount
        slotsOfNeighbour[position] = slot
        neighbours[index].frameCount += 1
        nextDeadline = min(nextDeadline, now &+ UnresolvedQueue.solicitationInterval)
        return true
    }

    /// Returns true, and records `now`, when `key` was not solicited within
    /// `solicitationInterval`. Returns false as well when every entry is taken.
    func claimSolicitation(for key: NeighbourKey, now: UInt64) -> Bool {
        guard let index = find(key) ?? allocateNeighbour(key) else { return false }
        let last = neighbours[index].lastSolicitation
        if last != 0 && now &- last < UnresolvedQueue.solicitationInterval { return false }
        neighbours[index].lastSolicitation = now
        nextDeadline = min(nextDeadline, now &+ UnresolvedQueue.solicitationInterval)
        return true
    }

    /// Records `mac` for `key` when the queue remembers that next hop, so `service` sends its
    /// frames on the next call.
    func resolve(_ key: NeighbourKey, mac: MACAddress) {
        guard let index = find(key) else { return }
        neighbours[index].mac = mac
        nextDeadline = 0
    }

    /// Sends the frames of every next hop whose address is now known (from `resolve` or from
    /// `lookup`), drops frames older than `lifetime` and calls `solicit` for hops still waiting
    /// whose last solicitation is `solicitationInterval` old. `send` returns false when it
    /// could not send, and the frame stays held. Returns the frames sent and expired.
    func service(
        now: UInt64, lookup: (NeighbourKey) -> MACAddress?,
        send: (NeighbourKey, MACAddress, UnsafeRawBufferPointer) -> Bool,
        solicit: (NeighbourKey) -> Void
    ) -> (sent: Int, expired: Int) {
        var sent = 0
        var expired = 0
        var deadline = UInt64.max
        for index in neighbours.indices where neighbours[index].inUse {
            let key = neighbours[index].key
            let base = index * UnresolvedQueue.framesPerNeighbour

            // Expire from the oldest frame on.
            var dropCount = 0
            while dropCount < neighbours[index].frameCount,
                now &- heldAt[slotsOfNeighbour[base + dropCount]] >= UnresolvedQueue.lifetime
            {
                dropCount += 1
            }
            removeOldest(dropCount, of: index)
            expired += dropCount

            // Send what waits for a resolved next hop, in the order it arrived.
            let tableMAC = lookup(key)
            if neighbours[index].frameCount > 0, let mac = neighbours[index].mac ?? tableMAC {
                var sendCount = 0
                while sendCount < neighbours[index].frameCount {
                    let slot = slotsOfNeighbour[base + sendCount]
                    let frame = UnsafeRawBufferPointer(
                        rebasing: storage[(slot * slotSize)..<(slot * slotSize + lengths[slot])])
                    guard send(key, mac, frame) else { break }
                    sendCount += 1
                }
                removeOldest(sendCount, of: index)
                sent += sendCount
            }

            // Ask again for a next hop that still has frames waiting.
            let neighbour = neighbours[index]
            if neighbour.frameCount > 0 {
                if neighbour.mac == nil && tableMAC == nil
                    && now &- neighbour.lastSolicitation >= UnresolvedQueue.solicitationInterval
                {
                    neighbours[index].lastSolicitation = now
                    solicit(key)
                }
                let oldest = heldAt[slotsOfNeighbour[base]]
                deadline = min(
                    deadline,
                    neighbours[index].lastSolicitation &+ UnresolvedQueue.solicitationInterval,
                    oldest &+ UnresolvedQueue.lifetime)
                // A frame left behind by a full TX ring is sent on the next call.
                if neighbour.mac != nil || tableMAC != nil { deadline = now }
                continue
            }

            // An empty entry is kept for the rest of its solicitation interval, or a resolved one
            // until the forwarding table has the address.
            let age = now &- neighbour.lastSolicitation
            let keep =
                tableMAC == nil
                && (neighbour.mac == nil
                    ? age < UnresolvedQueue.solicitationInterval
                    : age < UnresolvedQueue.lifetime)
            if keep {
                let interval =
                    neighbour.mac == nil
                    ? UnresolvedQueue.solicitationInterval : UnresolvedQueue.lifetime
                deadline = min(deadline, neighbour.lastSolicitation &+ interval)
            } else {
                neighbours[index].inUse = false
                neighbourCount -= 1
            }
        }
        nextDeadline = deadline
        return (sent, expired)
    }

    /// Frees the `count` oldest slots of neighbour `index` and moves the rest forward.
    private func removeOldest(_ count: Int, of index: Int) {
        guard count > 0 else { return }
        let base = index * UnresolvedQueue.framesPerNeighbour
        let remaining = neighbours[index].frameCount - count
        for position in 0..<count {
            freeSlots[freeCount] = slotsOfNeighbour[base + position]
            freeCount += 1
        }
        for position in 0..<remaining {
            slotsOfNeighbour[base + position] = slotsOfNeighbour[base + count + position]
        }
        neighbours[index].frameCount = remaining
    }
}
