// ICMP errors the gateway sends back to a host, on the inside link or through
// the tunnel (Pipeline+TunnelICMP.swift). A packet too big for the tunnel
// gets Destination Unreachable, Fragmentation Needed (RFC 792, with the
// next-hop MTU of RFC 1191) or the ICMPv6 Packet Too Big (RFC 4443 §3.2). Path
// MTU discovery at the source then lowers the packet size. A packet whose TTL
// or hop limit runs out here gets Time Exceeded (RFC 792, RFC 4443 §3.3),
// which traceroute relies on. ICMPErrorKind+Eligibility.swift lists the
// packets that get no error.

import TaglineCore

/// The ICMP errors the pipeline sends.
enum ICMPErrorKind {
    /// The packet needs an MTU of at most `mtu` on the way into the tunnel.
    case packetTooBig(mtu: Int)
    /// The TTL or hop limit reached zero at this gateway.
    case timeExceeded

    static let headerSize = 8
    /// RFC 1812 §4.3.2.3: quote as much of the packet as fits a 576-byte datagram.
    static let maximumIPv4Datagram = 576
    /// RFC 4443 §2.4 (c): an ICMPv6 error must fit the minimum IPv6 MTU.
    static let maximumIPv6Packet = 1280

    /// ICMP type and code for IPv4, then for IPv6.
    var typeAndCode: (ipv4: (UInt8, UInt8), ipv6: (UInt8, UInt8)) {
        switch self {
        case .packetTooBig: return ((3, 4), (2, 0))
        case .timeExceeded: return ((11, 0), (3, 0))
        }
    }

    /// Returns the 4 bytes after type, code and checksum: the MTU, or zero when unused.
    func word(isIPv4: Bool) -> UInt32 {
        switch self {
        case .packetTooBig(let mtu):
            return isIPv4
                ? UInt32(UInt16(clamping: mtu))
                : UInt32(max(mtu, ICMPErrorKind.maximumIPv6Packet))
        case .timeExceeded:
            return 0
        }
    }
}

extension ICMPErrorKind {
    /// Returns the length of the IP packet that carries an error about a packet of
    /// `packetLength` bytes. The quote is cut to the family's limit and to `maximumLength`.
    static func messageLength(quoting packetLength: Int, isIPv4: Bool, maximumLength: Int) -> Int {
        let ipHeaderSize = isIPv4 ? IPv4.minimumHeaderSize : IPv6.headerSize
        let limit = min(isIPv4 ? maximumIPv4Datagram : maximumIPv6Packet, maximumLength)
        let quoted = min(packetLength, limit - ipHeaderSize - headerSize)
        return ipHeaderSize + headerSize + max(quoted, 0)
    }

    /// Writes the error about `packet` into `out` as an IP packet from `source` to
    /// `destination`, quoting as much of `packet` as `out` leaves room for.
    func write(
        into out: UnsafeMutableRawBufferPointer, about packet: UnsafeRawBufferPointer,
        isIPv4: Bool, source: IPAddress, destination: IPAddress, identification: UInt16
    ) {
        // The ICMP message with its checksum, then the IP header.
        let ipHeaderSize = isIPv4 ? IPv4.minimumHeaderSize : IPv6.headerSize
        let icmpLength = out.count - ipHeaderSize
        let quoted = icmpLength - ICMPErrorKind.headerSize
        let icmp = ipHeaderSize
        let (type, code) = isIPv4 ? typeAndCode.ipv4 : typeAndCode.ipv6
        out[icmp] = type
        out[icmp + 1] = code
        out.writeUInt16(0, at: icmp + 2)
        out.writeUInt32(word(isIPv4: isIPv4), at: icmp + 4)
        out.copyBytes(from: packet.slice(0, quoted), at: icmp + ICMPErrorKind.headerSize)
        if isIPv4 {
            let sum = InternetChecksum.sum(UnsafeRawBufferPointer(out.slice(icmp, icmpLength)))
            out.writeUInt16(InternetChecksum.finish(sum), at: icmp + 2)
            IPv4.writeHeader(
                out, at: 0, totalLength: out.count, ipProtocol: IPProtocolNumber.icmp,
                source: source, destination: destination, identification: identification,
                tos: 0, dontFragment: false)
        } else {
            let pseudo = InternetChecksum.pseudoHeaderSum(
                source: source, destination: destination, ipProtocol: IPProtocolNumber.icmpv6,
                length: icmpLength)
            let sum = InternetChecksum.sum(
                UnsafeRawBufferPointer(out.slice(icmp, icmpLength)), initial: pseudo)
            out.writeUInt16(InternetChecksum.finish(sum), at: icmp + 2)
            IPv6.writeHeader(
                out, at: 0, payloadLength: icmpLength, nextHeader: IPProtocolNumber.icmpv6,
                source: source, destination: destination, trafficClass: 0)
        }
    }
}

extension Pipeline {
    /// Sends the ICMP or ICMPv6 error `kind` about `packet` to its source on the inside link.
    func sendICMPError<Sink: FrameSink>(
        _ kind: ICMPErrorKind, about packet: UnsafeRawBufferPointer, info: IPPacketInfo,
        destinationMAC: MACAddress, forwarding: ForwardingTable, sink: Sink
    ) {
        guard kind.mayReport(packet, info: info) else { return }
        guard icmpRateLimit.take(now: monotonicNanoseconds()) else {
            drops.increment(.icmpRateLimited)
            return
        }
        guard let source = forwarding.inside.addresses.first(where: { $0.isIPv4 == info.isIPv4 }),
            let out = sink.reserveFrame()
        else { return }
        // The error leaves on the inside link, so it is cut to that link's MTU as well.
        let ipLength = ICMPErrorKind.messageLength(
            quoting: packet.count, isIPv4: info.isIPv4,
            maximumLength: min(out.count - Ethernet.headerSize, forwarding.inside.mtu))
        let frameLength = Ethernet.headerSize + ipLength
        guard frameLength <= out.count else { return }

        Ethernet.writeHeader(
            out, at: 0, destination: destinationMAC, source: forwarding.inside.mac,
            type: info.isIPv4 ? Ethernet.typeIPv4 : Ethernet.typeIPv6)
        kind.write(
            into: out.slice(Ethernet.headerSize, ipLength), about: packet, isIPv4: info.isIPv4,
            source: source, destination: info.source, identification: nextIdentification)
        if info.isIPv4 { nextIdentification &+= 1 }
        sink.commitFrame(offset: 0, length: frameLength)
    }
}

/// The forwarding step every router applies: one less TTL or hop limit.
enum HopLimit {
    /// Reads the TTL or hop limit of the IP packet at the start of `packet`.
    static func read(_ packet: UnsafeRawBufferPointer, isIPv4: Bool) -> UInt8 {
        packet[isIPv4 ? IPv4.ttlOffset : IPv6.hopLimitOffset]
    }

    /// Lowers the TTL or hop limit by one and updates the IPv4 header checksum
    /// (RFC 1624: the TTL is the high byte of its 16-bit word, so the sum drops by 0x0100).
    @inline(__always)
    static func decrement(_ packet: UnsafeMutableRawBufferPointer, isIPv4: Bool) {
        guard isIPv4 else {
            packet[IPv6.hopLimitOffset] &-= 1
            return
        }
        packet[IPv4.ttlOffset] &-= 1
        let checksum = UnsafeRawBufferPointer(packet).readUInt16(at: IPv4.checksumOffset)
        // HC' = ~(~HC + ~m + m') with m' = m - 0x0100, which reduces to HC + 0x0100. One fold
        // brings the sum back to 16 bits, so the truncation loses nothing.
        var sum = UInt32(checksum) &+ 0x0100
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        packet.writeUInt16(UInt16(truncatingIfNeeded: sum), at: IPv4.checksumOffset)
    }
}
