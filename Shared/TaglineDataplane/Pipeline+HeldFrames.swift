// Frames for a next hop whose link-layer address is not known yet. The packet
// path holds them in the worker's UnresolvedQueue and solicits the address.
// The worker loop sends them as soon as the address is known, from an ARP
// reply or Neighbour Advertisement this worker received or from a forwarding
// table the control thread published, and drops those that waited too long.

import TaglineCore

extension Pipeline {
    /// Returns the link-layer address of `nextHop`: from the forwarding table, or learned by
    /// this worker since the control thread built that table.
    @inline(__always)
    func linkAddress(
        of nextHop: IPAddress, on interface: DataplaneInterface, forwarding: ForwardingTable
    ) -> MACAddress? {
        if let mac = forwarding.neighbour(nextHop, on: interface) { return mac }
        guard !unresolved.isEmpty else { return nil }
        return unresolved.resolvedMAC(
            for: NeighbourKey(interfaceIndex: interface.index, address: nextHop))
    }

    /// Copies `frame`, whose destination MAC is still to be written, into the queue of
    /// `nextHop` and solicits the address when due. `frame` may lie in `reserved`, a frame
    /// taken from `sink` that the solicitation reuses once the copy is made.
    func holdFrame<Sink: FrameSink>(
        _ frame: UnsafeRawBufferPointer, nextHop: IPAddress, on interface: DataplaneInterface,
        sink: Sink, reserved: UnsafeMutableRawBufferPointer? = nil
    ) -> PacketVerdict {
        let key = NeighbourKey(interfaceIndex: interface.index, address: nextHop)
        let now = monotonicNanoseconds()
        var reason: DropReason?
        if frame.count > unresolved.slotSize {
            reason = .tooBig
        } else if !unresolved.hold(frame, for: key, now: now) {
            reason = .unresolvedQueueFull
        }
        solicit(nextHop, on: interface, sink: sink, reserved: reserved, now: now)
        if let reason { return drop(reason) }
        return .queued
    }

    /// Sends held frames whose next hop is now known, drops those held longer than
    /// `UnresolvedQueue.lifetime` (counted as `unresolvedTimeout`) and repeats due
    /// solicitations. Frames for the inside interface go to `insideSink`, the others to
    /// `outsideSink`. The worker calls it on every poll between entering and leaving its
    /// epoch. Returns the frames sent, solicitations included.
    @discardableResult
    func processHeldFrames<InsideSink: FrameSink, OutsideSink: FrameSink>(
        insideSink: InsideSink, outsideSink: OutsideSink, now: UInt64
    ) -> Int {
        guard !unresolved.isEmpty else { return 0 }
        let forwarding = context.forwardingTable.current
        guard forwarding !== servicedTable || now >= unresolved.nextDeadline else { return 0 }
        servicedTable = forwarding

        var solicitations = 0
        let (sent, expired) = unresolved.service(
            now: now,
            lookup: { forwarding.neighbours[$0] },
            send: { key, mac, frame in
                if key.interfaceIndex == forwarding.inside.index {
                    return transmitHeldFrame(frame, to: mac, sink: insideSink)
                }
                return transmitHeldFrame(frame, to: mac, sink: outsideSink)
            },
            solicit: { key in
                if key.interfaceIndex == forwarding.inside.index {
                    sendSolicitation(key.address, on: forwarding.inside, sink: insideSink)
                } else {
                    sendSolicitation(key.address, on: forwarding.outside, sink: outsideSink)
                }
                solicitations += 1
            })
        for _ in 0..<expired { drops.increment(.unresolvedTimeout) }
        // The table stays referenced only while something is held.
        if unresolved.isEmpty { servicedTable = nil }
        return sent + solicitations
    }

    /// Copies a held frame into a TX frame of `sink` with `mac` as its destination. Returns
    /// false when the ring has no free frame, so the frame stays held.
    private func transmitHeldFrame<Sink: FrameSink>(
        _ frame: UnsafeRawBufferPointer, to mac: MACAddress, sink: Sink
    ) -> Bool {
        guard let out = sink.reserveFrame() else { return false }
        guard frame.count <= out.count else {
            // Slots fit the larger MTU of the two interfaces, which this ring may not carry.
            drops.increment(.tooBig)
            return true
        }
        out.copyBytes(from: frame, at: 0)
        Ethernet.writeMAC(out, mac, at: Ethernet.destinationOffset)
        sink.commitFrame(offset: 0, length: frame.count)
        return true
    }
}
