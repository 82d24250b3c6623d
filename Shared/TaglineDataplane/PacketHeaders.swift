// Offsets of the Ethernet, IPv4, IPv6, UDP and TCP header fields the
// pipeline reads or writes, the Internet checksum, and the parse of an inner
// IP packet (addresses, protocol, ports) that the SPD needs.

import TaglineCore

enum Ethernet {
    static let headerSize = 14
    static let destinationOffset = 0
    static let sourceOffset = 6
    static let typeOffset = 12
    static let typeIPv4: UInt16 = 0x0800
    static let typeIPv6: UInt16 = 0x86DD
    static let typeARP: UInt16 = 0x0806

    /// Writes the header at `offset` in `out`. Offsets within a frame cannot overflow, so the
    /// field offsets use wrapping arithmetic, which spares the packet path the overflow checks.
    static func writeHeader(
        _ out: UnsafeMutableRawBufferPointer, at offset: Int,
        destination: MACAddress, source: MACAddress, type: UInt16
    ) {
        writeMAC(out, destination, at: offset &+ destinationOffset)
        writeMAC(out, source, at: offset &+ sourceOffset)
        out.writeUInt16(type, at: offset &+ typeOffset)
    }

    @inline(__always)
    static func writeMAC(_ out: UnsafeMutableRawBufferPointer, _ mac: MACAddress, at offset: Int) {
        out.writeUInt16(UInt16(truncatingIfNeeded: mac.value >> 32), at: offset)
        out.writeUInt32(UInt32(truncatingIfNeeded: mac.value), at: offset &+ 2)
    }

    @inline(__always)
    static func readMAC(_ frame: UnsafeRawBufferPointer, at offset: Int) -> MACAddress {
        MACAddress(
            UInt64(frame.readUInt16(at: offset)) << 32 | UInt64(frame.readUInt32(at: offset + 2)))
    }
}

///   0                   1                   2                   3
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |Version|  IHL  |Type of Service|          Total Length         |
///  |         Identification        |Flags|      Fragment Offset    |
///  |  Time to Live |    Protocol   |         Header Checksum       |
///  |                       Source Address                          |
///  |                    Destination Address                        |
enum IPv4 {
    static let minimumHeaderSize = 20
    static let totalLengthOffset = 2
    static let identificationOffset = 4
    static let flagsOffset = 6
    static let ttlOffset = 8
    static let protocolOffset = 9
    static let checksumOffset = 10
    static let sourceOffset = 12
    static let destinationOffset = 16
    static let dontFragmentFlag: UInt16 = 0x4000
    static let moreFragments: UInt16 = 0x2000
    static let fragmentOffsetMask: UInt16 = 0x1FFF
    static let defaultTTL: UInt8 = 64

    /// Writes a 20-byte header with checksum at `offset`.
    static func writeHeader(
        _ out: UnsafeMutableRawBufferPointer, at offset: Int, totalLength: Int,
        ipProtocol: UInt8, source: IPAddress, destination: IPAddress,
        identification: UInt16, tos: UInt8, dontFragment: Bool
    ) {
        out[offset] = 0x45
        out[offset + 1] = tos
        out.writeUInt16(UInt16(totalLength), at: offset + totalLengthOffset)
        out.writeUInt16(identification, at: offset + identificationOffset)
        out.writeUInt16(dontFragment ? dontFragmentFlag : 0, at: offset + flagsOffset)
        out[offset + ttlOffset] = defaultTTL
        out[offset + protocolOffset] = ipProtocol
        out.writeUInt16(0, at: offset + checksumOffset)
        out.writeAddress(source, at: offset + sourceOffset)
        out.writeAddress(destination, at: offset + destinationOffset)
        let sum = InternetChecksum.sum(UnsafeRawBufferPointer(out.slice(offset, minimumHeaderSize)))
        out.writeUInt16(InternetChecksum.finish(sum), at: offset + checksumOffset)
    }

    /// Writes a 20-byte header like `writeHeader`. The checksum starts from `fixedSum`, which
    /// `fixedFieldsSum` returned for the same protocol and addresses, and adds only the
    /// fields that vary per packet, as an RFC 1624 update does.
    @inline(__always)
    static func writeHeader(
        _ out: UnsafeMutableRawBufferPointer, at offset: Int, totalLength: Int,
        ipProtocol: UInt8, source: IPAddress, destination: IPAddress,
        identification: UInt16, tos: UInt8, dontFragment: Bool, fixedSum: UInt64
    ) {
        let flags = dontFragment ? dontFragmentFlag : 0
        out[offset] = 0x45
        out[offset + 1] = tos
        out.writeUInt16(UInt16(totalLength), at: offset + totalLengthOffset)
        out.writeUInt16(identification, at: offset + identificationOffset)
        out.writeUInt16(flags, at: offset + flagsOffset)
        out[offset + ttlOffset] = defaultTTL
        out[offset + protocolOffset] = ipProtocol
        out.writeAddress(source, at: offset + sourceOffset)
        out.writeAddress(destination, at: offset + destinationOffset)
        // Each of the five terms is below 2^32, so the sum cannot overflow.
        let sum =
            fixedSum &+ UInt64(tos) &+ UInt64(UInt16(totalLength)) &+ UInt64(identification)
            &+ UInt64(flags)
        out.writeUInt16(InternetChecksum.finish(sum), at: offset + checksumOffset)
    }

    /// Returns the checksum sum of the header fields `writeHeader` sets the same for every
    /// packet: version and header length, TTL, protocol and both addresses.
    static func fixedFieldsSum(ipProtocol: UInt8, source: IPAddress, destination: IPAddress)
        -> UInt64
    {
        var sum = UInt64(0x45) << 8 + (UInt64(defaultTTL) << 8 | UInt64(ipProtocol))
        for address in [source, destination] {
            if case .v4(let value) = address {
                sum += UInt64(value >> 16) + UInt64(value & 0xFFFF)
            }
        }
        return sum
    }
}

///  |Version| Traffic Class |           Flow Label                  |
///  |         Payload Length        |  Next Header  |   Hop Limit   |
///  |                 Source Address (16 bytes)                     |
///  |              Destination Address (16 bytes)                   |
enum IPv6 {
    static let headerSize = 40
    static let payloadLengthOffset = 4
    static let nextHeaderOffset = 6
    static let hopLimitOffset = 7
    static let sourceOffset = 8
    static let destinationOffset = 24
    static let defaultHopLimit: UInt8 = 64
    /// Extension headers the walk steps over: Hop-by-Hop, Routing, Destination Options.
    static let hopByHop: UInt8 = 0
    static let routing: UInt8 = 43
    static let fragment: UInt8 = 44
    static let destinationOptions: UInt8 = 60
    static let maximumExtensionHeaders = 8

    static func writeHeader(
        _ out: UnsafeMutableRawBufferPointer, at offset: Int, payloadLength: Int,
        nextHeader: UInt8, source: IPAddress, destination: IPAddress,
        trafficClass: UInt8
    ) {
        out.writeUInt32(0x6000_0000 | UInt32(trafficClass) << 20, at: offset)
        out.writeUInt16(UInt16(payloadLength), at: offset + payloadLengthOffset)
        out[offset + nextHeaderOffset] = nextHeader
        out[offset + hopLimitOffset] = defaultHopLimit
        out.writeAddress(source, at: offset + sourceOffset)
        out.writeAddress(destination, at: offset + destinationOffset)
    }
}

enum UDP {
    static let headerSize = 8
    static let lengthOffset = 4
    static let checksumOffset = 6
    /// ESP-in-UDP and IKE after NAT traversal (RFC 3948).
    static let natTraversalPort: UInt16 = 4500
    /// Four zero bytes before an IKE message on port 4500 (RFC 3948 §2.2).
    static let nonESPMarkerSize = 4
}

enum IPProtocolNumber {
    static let icmp: UInt8 = 1
    static let tcp: UInt8 = 6
    static let udp: UInt8 = 17
    static let esp: UInt8 = 50
    static let icmpv6: UInt8 = 58
    static let sctp: UInt8 = 132
}

/// The ones' complement sum of RFC 1071.
enum InternetChecksum {
    /// Adds `data` to `initial` as 16-bit big-endian words; an odd last byte is padded with 0.
    static func sum(_ data: UnsafeRawBufferPointer, initial: UInt64 = 0) -> UInt64 {
        var total = initial
        var index = 0
        let count = data.count
        while index + 8 <= count {
            let word = data.readUInt64(at: index)
            total &+=
                (word >> 48) + ((word >> 32) & 0xFFFF) + ((word >> 16) & 0xFFFF)
                + (word & 0xFFFF)
            index += 8
        }
        while index + 2 <= count {
            total &+= UInt64(data.readUInt16(at: index))
            index += 2
        }
        if index < count { total &+= UInt64(data[index]) << 8 }
        return total
    }

    /// Folds a sum to 16 bits and complements it.
    static func finish(_ sum: UInt64) -> UInt16 {
        var folded = sum
        while folded > 0xFFFF { folded = (folded & 0xFFFF) + (folded >> 16) }
        return ~UInt16(folded)
    }

    /// Sum of the pseudo-header of RFC 793 / RFC 8200 §8.1 for a transport checksum.
    static func pseudoHeaderSum(
        source: IPAddress, destination: IPAddress, ipProtocol: UInt8,
        length: Int
    ) -> UInt64 {
        var total = UInt64(ipProtocol) + UInt64(length)
        for address in [source, destination] {
            switch address {
            case .v4(let value):
                total += UInt64(value >> 16) + UInt64(value & 0xFFFF)
            case .v6(let high, let low):
                for half in [high, low] {
                    total +=
                        (half >> 48) + ((half >> 32) & 0xFFFF) + ((half >> 16) & 0xFFFF)
                        + (half & 0xFFFF)
                }
            }
        }
        return total
    }
}

/// The fields of an IP packet the SPD and the binding table need.
struct IPPacketInfo {
    var isIPv4: Bool
    var source: IPAddress
    var destination: IPAddress
    /// Transport protocol (after IPv6 extension headers).
    var ipProtocol: UInt8
    /// TCP, UDP or SCTP ports; nil for other protocols or a non-first fragment.
    var ports: (source: UInt16, destination: UInt16)?
    /// Bytes of the IP packet, from its total length field.
    var length: Int
    /// Bytes before the transport header.
    var headerLength: Int
    /// IPv4 fragment with offset > 0 or MF set; IPv6 packet with a Fragment header.
    var isFragment: Bool
    var dontFragment: Bool

    /// Validates the IP packet at the start of `packet` and reads its fields. Link padding may
    /// follow the packet. Returns nil when the header is invalid or runs past `packet`.
    @inline(__always)
    static func parse(_ packet: UnsafeRawBufferPointer) -> IPPacketInfo? {
        guard packet.count >= 1 else { return nil }
        switch packet[0] >> 4 {
        case 4: return parseIPv4(packet)
        case 6: return parseIPv6(packet)
        default: return nil
        }
    }

    @inline(__always)
    private static func parseIPv4(_ packet: UnsafeRawBufferPointer) -> IPPacketInfo? {
        guard packet.count >= IPv4.minimumHeaderSize else { return nil }
        let headerLength = Int(packet[0] & 0x0F) * 4
        let totalLength = Int(packet.readUInt16(at: IPv4.totalLengthOffset))
        guard headerLength >= IPv4.minimumHeaderSize, totalLength >= headerLength,
            totalLength <= packet.count
        else { return nil }
        let flags = packet.readUInt16(at: IPv4.flagsOffset)
        let isFragment = flags & (IPv4.moreFragments | IPv4.fragmentOffsetMask) != 0
        let firstFragment = flags & IPv4.fragmentOffsetMask == 0
        let ipProtocol = packet[IPv4.protocolOffset]
        return IPPacketInfo(
            isIPv4: true, source: .v4(packet.readUInt32(at: IPv4.sourceOffset)),
            destination: .v4(packet.readUInt32(at: IPv4.destinationOffset)),
            ipProtocol: ipProtocol,
            ports: firstFragment
                ? readPorts(packet, at: headerLength, end: totalLength, ipProtocol: ipProtocol)
                : nil,
            length: totalLength, headerLength: headerLength, isFragment: isFragment,
            dontFragment: flags & IPv4.dontFragmentFlag != 0)
    }

    private static func parseIPv6(_ packet: UnsafeRawBufferPointer) -> IPPacketInfo? {
        guard packet.count >= IPv6.headerSize else { return nil }
        let totalLength = IPv6.headerSize + Int(packet.readUInt16(at: IPv6.payloadLengthOffset))
        guard totalLength <= packet.count else { return nil }
        var nextHeader = packet[IPv6.nextHeaderOffset]
        var offset = IPv6.headerSize
        var isFragment = false
        var firstFragment = true
        for _ in 0..<IPv6.maximumExtensionHeaders {
            switch nextHeader {
            case IPv6.hopByHop, IPv6.routing, IPv6.destinationOptions:
                guard offset + 2 <= totalLength else { return nil }
                let length = (Int(packet[offset + 1]) + 1) * 8
                nextHeader = packet[offset]
                offset += length
            case IPv6.fragment:
                guard offset + 8 <= totalLength else { return nil }
                isFragment = true
                firstFragment = packet.readUInt16(at: offset + 2) & 0xFFF8 == 0
                nextHeader = packet[offset]
                offset += 8
            default:
                guard offset <= totalLength else { return nil }
                return IPPacketInfo(
                    isIPv4: false,
                    source: packet.readAddress(at: IPv6.sourceOffset, isIPv4: false),
                    destination: packet.readAddress(at: IPv6.destinationOffset, isIPv4: false),
                    ipProtocol: nextHeader,
                    ports: firstFragment
                        ? readPorts(packet, at: offset, end: totalLength, ipProtocol: nextHeader)
                        : nil,
                    length: totalLength, headerLength: offset, isFragment: isFragment,
                    dontFragment: true)
            }
        }
        return nil
    }

    @inline(__always)
    private static func readPorts(
        _ packet: UnsafeRawBufferPointer, at offset: Int, end: Int,
        ipProtocol: UInt8
    ) -> (source: UInt16, destination: UInt16)? {
        switch ipProtocol {
        case IPProtocolNumber.tcp, IPProtocolNumber.udp, IPProtocolNumber.sctp:
            guard offset + 4 <= end else { return nil }
            return (packet.readUInt16(at: offset), packet.readUInt16(at: offset + 2))
        default:
            return nil
        }
    }
}
