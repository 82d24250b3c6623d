// The packets that never get an ICMP error (RFC 1122 §3.2.2, RFC 1812
// §4.3.2.7, RFC 4443 §2.4 (e)): an ICMP error, a fragment other than the
// first, and a packet whose source names no single host. A host on the inside
// link or a peer across the tunnel can forge the source, and an error to a
// multicast or broadcast source would reach every host listening there. An
// IPv4 packet to a multicast or broadcast address gets no error either, nor an
// IPv6 packet to a multicast address, except Packet Too Big, which path MTU
// discovery for multicast needs (RFC 4443 §2.4 (e.3)).

import TaglineCore

extension ICMPErrorKind {
    /// Tells whether this error may be sent about `packet`, whose fields are `info`.
    func mayReport(_ packet: UnsafeRawBufferPointer, info: IPPacketInfo) -> Bool {
        guard ICMPErrorKind.namesOneHost(info.source) else { return false }
        let transport = info.headerLength
        if info.isIPv4 {
            guard case .v4(let destination) = info.destination,
                destination >> 28 != 0xE, destination != 0xFFFF_FFFF
            else { return false }
            let fragmentOffset = packet.readUInt16(at: IPv4.flagsOffset) & IPv4.fragmentOffsetMask
            if fragmentOffset != 0 { return false }
            if info.ipProtocol == IPProtocolNumber.icmp, packet.count > transport,
                ICMPErrorKind.isIPv4Error(type: packet[transport])
            {
                return false
            }
            return true
        }
        if case .v6(let high, _) = info.destination, high >> 56 == 0xFF {
            guard case .packetTooBig = self else { return false }
        }
        // The byte after the headers of a later fragment is data, not an ICMPv6 type.
        if info.isFragment && ICMPErrorKind.ipv6FragmentOffset(packet, headerLength: transport) != 0
        {
            return false
        }
        if info.ipProtocol == IPProtocolNumber.icmpv6, packet.count > transport,
            packet[transport] < 128
        {
            return false
        }
        return true
    }

    /// Tells whether `address` can be the source of a packet from one host: not unspecified,
    /// loopback, multicast, class E or limited broadcast (IPv4), nor unspecified, loopback or
    /// multicast (IPv6).
    static func namesOneHost(_ address: IPAddress) -> Bool {
        switch address {
        case .v4(let value):
            let first = value >> 24
            return first != 0 && first != 127 && first < 224
        case .v6(let high, let low):
            if high >> 56 == 0xFF { return false }
            return !(high == 0 && (low == 0 || low == 1))
        }
    }

    /// Applies `namesOneHost` to the source address of `packet`, an IPv4 or IPv6 header that
    /// `IPPacketInfo.parse` accepted, reading the bytes in place. The packet path calls this
    /// form because it builds no `IPAddress`.
    @inline(__always)
    static func namesOneHost(sourceOf packet: UnsafeRawBufferPointer, isIPv4: Bool) -> Bool {
        if isIPv4 {
            let first = packet[IPv4.sourceOffset]
            return first != 0 && first != 127 && first < 224
        }
        let high = packet.readUInt64(at: IPv6.sourceOffset)
        if high >> 56 == 0xFF { return false }
        return high != 0 || packet.readUInt64(at: IPv6.sourceOffset + 8) > 1
    }

    /// Destination Unreachable, Source Quench, Redirect, Time Exceeded, Parameter Problem.
    static func isIPv4Error(type: UInt8) -> Bool {
        switch type {
        case 3, 4, 5, 11, 12: return true
        default: return false
        }
    }

    /// Returns the fragment offset of the IPv6 packet whose headers, up to the transport
    /// header, take `headerLength` bytes, or 0 when it has no Fragment header.
    static func ipv6FragmentOffset(_ packet: UnsafeRawBufferPointer, headerLength: Int) -> UInt16 {
        var nextHeader = packet[IPv6.nextHeaderOffset]
        var offset = IPv6.headerSize
        while offset + 8 <= headerLength {
            switch nextHeader {
            case IPv6.fragment:
                return packet.readUInt16(at: offset + 2) & 0xFFF8
            case IPv6.hopByHop, IPv6.routing, IPv6.destinationOptions:
                nextHeader = packet[offset]
                offset += (Int(packet[offset + 1]) + 1) * 8
            default:
                return 0
            }
        }
        return 0
    }
}
