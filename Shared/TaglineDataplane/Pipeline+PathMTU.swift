// Path MTU discovery for the tunnel. A router between the gateways that
// cannot forward one of the gateway's ESP packets returns ICMP "fragmentation
// needed" (RFC 1191) or ICMPv6 "packet too big" (RFC 4443 §3.2) quoting the
// packet's start. Only a message whose quoted outer addresses, SPI and ports
// belong to an outbound SA lowers that SA's path MTU. Any other is counted
// and ignored, so a forged message cannot shrink a tunnel.

import TaglineCore

extension Pipeline {
    /// TCP payload size of segments whose inner packet is at most `maximumInner` bytes, or zero
    /// when not even the headers fit (the segmentation step then drops the packet).
    func tcpSegmentSize(
        _ packet: UnsafeRawBufferPointer, info: IPPacketInfo, fitting maximumInner: Int
    )
        -> Int
    {
        let tcpOffset = info.headerLength
        guard tcpOffset + TCP.minimumHeaderSize <= packet.count else { return 0 }
        let tcpHeaderLength = Int(packet[tcpOffset + TCP.dataOffsetByte] >> 4) * 4
        return max(maximumInner - tcpOffset - tcpHeaderLength, 0)
    }

    /// Handles an ICMP "fragmentation needed" or ICMPv6 "packet too big" message to the
    /// gateway from the outside interface. Returns nil for any other packet, which stays the
    /// kernel's.
    func receivePacketTooBig(
        _ packet: UnsafeRawBufferPointer, isIPv4: Bool, forwarding: ForwardingTable
    ) -> PacketVerdict? {
        guard let message = PacketTooBig.parse(packet, isIPv4: isIPv4),
            forwarding.localAddresses.contains(message.destination)
        else { return nil }
        guard let quoted = QuotedESP.parse(message.quoted, isIPv4: isIPv4),
            let state = context.saTable.current.outbound.first(where: { quoted.matches($0.childSA) }
            )
        else { return drop(.packetTooBigMismatch) }

        // Never raised by a message (RFC 1191 §3, RFC 8201 §4), and never below 576 bytes for
        // IPv4 or the IPv6 minimum link MTU (RFC 8201 §4).
        let interfaceMTU = forwarding.outside.mtu
        let value = max(message.mtu, isIPv4 ? PathMTU.minimumIPv4 : PathMTU.minimumIPv6)
        guard message.mtu > 0, message.mtu <= interfaceMTU, value < interfaceMTU,
            value <= state.pathMTU.effective(interfaceMTU: interfaceMTU)
        else { return drop(.packetTooBigIgnored) }
        state.pathMTU.lower(to: value, now: monotonicNanoseconds())
        return .consumed
    }
}

/// The fields of an ICMP type 3 code 4 or ICMPv6 type 2 message that path MTU discovery uses.
struct PacketTooBig {
    var destination: IPAddress
    var mtu: Int
    /// The start of the packet that did not fit, as the router quoted it.
    var quoted: UnsafeRawBufferPointer

    /// Reads the message from an IP packet, or returns nil when the packet is not one.
    static func parse(_ packet: UnsafeRawBufferPointer, isIPv4: Bool) -> PacketTooBig? {
        let icmp: Int
        let end: Int
        if isIPv4 {
            guard packet.count >= IPv4.minimumHeaderSize,
                packet[IPv4.protocolOffset] == IPProtocolNumber.icmp
            else { return nil }
            icmp = Int(packet[0] & 0x0F) * 4
            end = Int(packet.readUInt16(at: IPv4.totalLengthOffset))
            let flags = packet.readUInt16(at: IPv4.flagsOffset)
            guard icmp >= IPv4.minimumHeaderSize, end <= packet.count,
                icmp + ICMPErrorKind.headerSize <= end,
                flags & (IPv4.moreFragments | IPv4.fragmentOffsetMask) == 0,
                packet[icmp] == 3, packet[icmp + 1] == 4
            else { return nil }
            return PacketTooBig(
                destination: packet.readAddress(at: IPv4.destinationOffset, isIPv4: true),
                mtu: Int(packet.readUInt16(at: icmp + 6)),
                quoted: packet.slice(
                    icmp + ICMPErrorKind.headerSize, end - icmp - ICMPErrorKind.headerSize))
        }
        guard packet.count >= IPv6.headerSize,
            packet[IPv6.nextHeaderOffset] == IPProtocolNumber.icmpv6
        else { return nil }
        icmp = IPv6.headerSize
        end = icmp + Int(packet.readUInt16(at: IPv6.payloadLengthOffset))
        guard end <= packet.count, icmp + ICMPErrorKind.headerSize <= end,
            packet[icmp] == 2, packet[icmp + 1] == 0
        else { return nil }
        return PacketTooBig(
            destination: packet.readAddress(at: IPv6.destinationOffset, isIPv4: false),
            mtu: Int(clamping: packet.readUInt32(at: icmp + 4)),
            quoted: packet.slice(
                icmp + ICMPErrorKind.headerSize, end - icmp - ICMPErrorKind.headerSize))
    }
}

/// The outer addresses, SPI and UDP ports of a quoted ESP packet.
struct QuotedESP {
    var source: IPAddress
    var destination: IPAddress
    var spi: UInt32
    /// Source and destination port when the ESP packet was in UDP.
    var ports: (source: UInt16, destination: UInt16)?

    /// Reads the quoted packet, or returns nil when it is not an ESP packet of the family
    /// `isIPv4` or too little of it was quoted to show the SPI. RFC 792 routers quote only
    /// 8 bytes after the IPv4 header, which leaves out the SPI of ESP in UDP.
    static func parse(_ quoted: UnsafeRawBufferPointer, isIPv4: Bool) -> QuotedESP? {
        var offset: Int
        var nextHeader: UInt8
        let source: IPAddress
        let destination: IPAddress
        if isIPv4 {
            guard quoted.count >= IPv4.minimumHeaderSize, quoted[0] >> 4 == 4 else { return nil }
            offset = Int(quoted[0] & 0x0F) * 4
            guard offset >= IPv4.minimumHeaderSize else { return nil }
            nextHeader = quoted[IPv4.protocolOffset]
            source = quoted.readAddress(at: IPv4.sourceOffset, isIPv4: true)
            destination = quoted.readAddress(at: IPv4.destinationOffset, isIPv4: true)
        } else {
            guard quoted.count >= IPv6.headerSize, quoted[0] >> 4 == 6 else { return nil }
            offset = IPv6.headerSize
            nextHeader = quoted[IPv6.nextHeaderOffset]
            source = quoted.readAddress(at: IPv6.sourceOffset, isIPv4: false)
            destination = quoted.readAddress(at: IPv6.destinationOffset, isIPv4: false)
            // The first fragment of a packet the gateway fragmented after encryption.
            if nextHeader == IPv6.fragment {
                guard offset + OuterFragmentState.ipv6FragmentHeaderSize <= quoted.count,
                    quoted.readUInt16(at: offset + 2) >> 3 == 0
                else { return nil }
                nextHeader = quoted[offset]
                offset += OuterFragmentState.ipv6FragmentHeaderSize
            }
        }
        var ports: (source: UInt16, destination: UInt16)?
        if nextHeader == IPProtocolNumber.udp {
            guard offset + UDP.headerSize <= quoted.count else { return nil }
            ports = (quoted.readUInt16(at: offset), quoted.readUInt16(at: offset + 2))
            offset += UDP.headerSize
        } else if nextHeader != IPProtocolNumber.esp {
            return nil
        }
        guard offset + 4 <= quoted.count else { return nil }
        return QuotedESP(
            source: source, destination: destination, spi: quoted.readUInt32(at: offset),
            ports: ports)
    }

    /// True when the quoted packet is one that `sa` sends.
    func matches(_ sa: ChildSA) -> Bool {
        guard sa.outboundSPI == spi, sa.localAddress == source, sa.remoteAddress == destination
        else { return false }
        switch (sa.udpEncapsulation, ports) {
        case (nil, nil): return true
        case (let encapsulation?, let ports?):
            return encapsulation.localPort == ports.source
                && encapsulation.remotePort == ports.destination
        default: return false
        }
    }
}
