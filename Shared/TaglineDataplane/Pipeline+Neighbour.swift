// Link-layer addresses the kernel's neighbour table does not have yet. The
// dataplane sends the ARP request (RFC 826) or Neighbour Solicitation
// (RFC 4861 §7.2.2) itself from the TX ring. It learns the address from the
// ARP reply or Neighbour Advertisement its RX ring receives, because the kernel
// ignores replies to requests it did not send. Frames for the next hop wait in
// the worker's UnresolvedQueue meanwhile.

import TaglineCore

enum ARP {
    static let packetSize = 28
    static let operationOffset = 6
    static let senderMACOffset = 8
    static let senderAddressOffset = 14
    static let targetMACOffset = 18
    static let targetAddressOffset = 24
    static let request: UInt16 = 1
    static let reply: UInt16 = 2
    /// htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
    static let fixedHeader: UInt64 = 0x0001_0800_0604
    /// Ethernet frames are padded to 60 bytes before the FCS.
    static let minimumFrameSize = 60
}

enum ICMPv6 {
    static let neighbourSolicitation: UInt8 = 135
    static let neighbourAdvertisement: UInt8 = 136
    static let targetOffset = 8
    static let optionsOffset = 24
    static let sourceLinkLayerOption: UInt8 = 1
    static let targetLinkLayerOption: UInt8 = 2
    /// ICMPv6 header, reserved word and target address, then one link-layer address option.
    static let solicitationSize = 32
    static let hopLimit: UInt8 = 255
}

extension Pipeline {
    /// Sends an ARP request or a Neighbour Solicitation for `address`, at most once per
    /// `UnresolvedQueue.solicitationInterval` per address on this worker. `reserved` is a
    /// frame already taken from `sink`, if any.
    func solicit<Sink: FrameSink>(
        _ address: IPAddress, on interface: DataplaneInterface,
        sink: Sink, reserved: UnsafeMutableRawBufferPointer? = nil, now: UInt64
    ) {
        let key = NeighbourKey(interfaceIndex: interface.index, address: address)
        guard unresolved.claimSolicitation(for: key, now: now) else { return }
        sendSolicitation(address, on: interface, sink: sink, reserved: reserved)
    }

    /// Writes the ARP request or Neighbour Solicitation for `address` and sends it.
    func sendSolicitation<Sink: FrameSink>(
        _ address: IPAddress, on interface: DataplaneInterface,
        sink: Sink, reserved: UnsafeMutableRawBufferPointer? = nil
    ) {
        guard let out = reserved ?? sink.reserveFrame() else { return }
        let length: Int?
        if address.isIPv4 {
            length = Pipeline.writeARPRequest(out, target: address, interface: interface)
        } else {
            length = Pipeline.writeNeighbourSolicitation(out, target: address, interface: interface)
        }
        guard let length else { return }
        sink.commitFrame(offset: 0, length: length)
    }

    static func writeARPRequest(
        _ out: UnsafeMutableRawBufferPointer, target: IPAddress,
        interface: DataplaneInterface
    ) -> Int? {
        guard let sender = interface.addresses.first(where: { $0.isIPv4 }),
            out.count >= ARP.minimumFrameSize
        else { return nil }
        for index in 0..<ARP.minimumFrameSize { out[index] = 0 }
        Ethernet.writeHeader(
            out, at: 0, destination: .broadcast, source: interface.mac,
            type: Ethernet.typeARP)
        let arp = Ethernet.headerSize
        out.writeUInt16(UInt16(truncatingIfNeeded: ARP.fixedHeader >> 32), at: arp)
        out.writeUInt32(UInt32(truncatingIfNeeded: ARP.fixedHeader), at: arp + 2)
        out.writeUInt16(ARP.request, at: arp + ARP.operationOffset)
        Ethernet.writeMAC(out, interface.mac, at: arp + ARP.senderMACOffset)
        out.writeAddress(sender, at: arp + ARP.senderAddressOffset)
        out.writeAddress(target, at: arp + ARP.targetAddressOffset)
        return ARP.minimumFrameSize
    }

    static func writeNeighbourSolicitation(
        _ out: UnsafeMutableRawBufferPointer, target: IPAddress,
        interface: DataplaneInterface
    ) -> Int? {
        guard case .v6(_, let targetLow) = target,
            let sender = interface.addresses.first(where: { !$0.isIPv4 })
        else { return nil }
        let length = Ethernet.headerSize + IPv6.headerSize + ICMPv6.solicitationSize
        guard out.count >= length else { return nil }

        // Solicited-node multicast ff02::1:ffXX:XXXX and its MAC 33:33:ff:XX:XX:XX.
        let low24 = targetLow & 0xFF_FFFF
        let group = IPAddress.v6(0xFF02_0000_0000_0000, 0x0000_0001_FF00_0000 | low24)
        let groupMAC = MACAddress(0x3333_FF00_0000 | low24)
        Ethernet.writeHeader(
            out, at: 0, destination: groupMAC, source: interface.mac,
            type: Ethernet.typeIPv6)
        IPv6.writeHeader(
            out, at: Ethernet.headerSize, payloadLength: ICMPv6.solicitationSize,
            nextHeader: IPProtocolNumber.icmpv6, source: sender, destination: group,
            trafficClass: 0)
        out[Ethernet.headerSize + IPv6.hopLimitOffset] = ICMPv6.hopLimit

        let icmp = Ethernet.headerSize + IPv6.headerSize
        out[icmp] = ICMPv6.neighbourSolicitation
        out[icmp + 1] = 0
        out.writeUInt16(0, at: icmp + 2)
        out.writeUInt32(0, at: icmp + 4)
        out.writeAddress(target, at: icmp + ICMPv6.targetOffset)
        out[icmp + ICMPv6.optionsOffset] = ICMPv6.sourceLinkLayerOption
        out[icmp + ICMPv6.optionsOffset + 1] = 1
        Ethernet.writeMAC(out, interface.mac, at: icmp + ICMPv6.optionsOffset + 2)
        let pseudo = InternetChecksum.pseudoHeaderSum(
            source: sender, destination: group, ipProtocol: IPProtocolNumber.icmpv6,
            length: ICMPv6.solicitationSize)
        let sum = InternetChecksum.sum(
            UnsafeRawBufferPointer(out.slice(icmp, ICMPv6.solicitationSize)), initial: pseudo)
        out.writeUInt16(InternetChecksum.finish(sum), at: icmp + 2)
        return length
    }

    /// Runs the Ethernet step both interfaces share: learns neighbours from ARP
    /// and Neighbour Advertisements, then returns the IP packet of a frame sent
    /// to the interface's MAC. Other frames are left to the kernel.
    @inline(__always)
    func ethernetStep(
        _ frame: UnsafeRawBufferPointer, interface: DataplaneInterface,
        forwarding: ForwardingTable
    ) -> EthernetStep {
        guard frame.count >= Ethernet.headerSize else { return .dropped(.runt) }
        let etherType = frame.readUInt16(at: Ethernet.typeOffset)
        if etherType == Ethernet.typeARP {
            learnNeighbour(fromARP: frame, interface: interface, forwarding: forwarding)
            return .passed
        }
        guard etherType == Ethernet.typeIPv4 || etherType == Ethernet.typeIPv6 else {
            return .passed
        }
        let packet = frame.slice(Ethernet.headerSize, frame.count - Ethernet.headerSize)
        if etherType == Ethernet.typeIPv6 {
            learnNeighbour(fromAdvertisement: packet, interface: interface, forwarding: forwarding)
        }
        // Only frames sent to the gateway's MAC are routed through it.
        guard Ethernet.readMAC(frame, at: Ethernet.destinationOffset) == interface.mac else {
            return .passed
        }
        return .routed(packet, isIPv4: etherType == Ethernet.typeIPv4)
    }

    /// Learns the sender of an ARP request or reply addressed to one of the interface's
    /// addresses.
    func learnNeighbour(
        fromARP frame: UnsafeRawBufferPointer, interface: DataplaneInterface,
        forwarding: ForwardingTable
    ) {
        let arp = Ethernet.headerSize
        guard frame.count >= arp + ARP.packetSize,
            frame.readUInt16(at: arp) == UInt16(truncatingIfNeeded: ARP.fixedHeader >> 32),
            frame.readUInt32(at: arp + 2) == UInt32(truncatingIfNeeded: ARP.fixedHeader)
        else { return }
        let target = IPAddress.v4(frame.readUInt32(at: arp + ARP.targetAddressOffset))
        guard interface.addresses.contains(target) else { return }
        let sender = IPAddress.v4(frame.readUInt32(at: arp + ARP.senderAddressOffset))
        let mac = Ethernet.readMAC(frame, at: arp + ARP.senderMACOffset)
        queueLearned(sender, mac, interface: interface, forwarding: forwarding)
    }

    /// Learns the target of a Neighbour Advertisement that carries its link-layer address.
    func learnNeighbour(
        fromAdvertisement packet: UnsafeRawBufferPointer,
        interface: DataplaneInterface, forwarding: ForwardingTable
    ) {
        let icmp = IPv6.headerSize
        let optionOffset = icmp + ICMPv6.optionsOffset
        guard packet.count >= optionOffset + 8,
            packet[IPv6.nextHeaderOffset] == IPProtocolNumber.icmpv6,
            packet[icmp] == ICMPv6.neighbourAdvertisement,
            packet[IPv6.hopLimitOffset] == ICMPv6.hopLimit,
            packet[optionOffset] == ICMPv6.targetLinkLayerOption,
            packet[optionOffset + 1] == 1
        else { return }
        let target = packet.readAddress(at: icmp + ICMPv6.targetOffset, isIPv4: false)
        let mac = Ethernet.readMAC(packet, at: optionOffset + 2)
        queueLearned(target, mac, interface: interface, forwarding: forwarding)
    }

    private func queueLearned(
        _ address: IPAddress, _ mac: MACAddress,
        interface: DataplaneInterface, forwarding: ForwardingTable
    ) {
        let key = NeighbourKey(interfaceIndex: interface.index, address: address)
        unresolved.resolve(key, mac: mac)
        guard forwarding.neighbours[key] != mac else { return }
        context.neighbourQueues[worker].push(LearnedNeighbour(key: key, mac: mac))
    }
}

/// Outcome of the Ethernet step of either interface.
enum EthernetStep {
    /// An IPv4 or IPv6 packet addressed to the gateway: the bytes after the Ethernet header.
    case routed(UnsafeRawBufferPointer, isIPv4: Bool)
    /// ARP, other EtherTypes and frames for other MACs, left to the kernel.
    case passed
    case dropped(DropReason)
}
