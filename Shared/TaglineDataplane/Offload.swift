// Checksum and segmentation work a sender left to the device. On veth the
// kernel hands AF_PACKET frames with a virtio-net header (PACKET_VNET_HDR)
// saying the transport checksum is not computed yet (NEEDS_CSUM) or that the
// frame is a TCP or UDP segmentation-offload frame larger than the MTU. The
// dataplane finishes both itself before encryption, because nothing after it
// can: the inner packet is encrypted.

import CTaglineShim
import TaglineCore

/// The offload fields of a `struct virtio_net_hdr` (linux/virtio_net.h), in host order.
public struct OffloadHeader: Equatable, Sendable {
    /// The transport checksum is partial: complete it over `checksumStart ..< end`.
    public var needsChecksum: Bool
    /// From the start of the Ethernet frame.
    public var checksumStart: Int
    /// Offset of the checksum field from `checksumStart`.
    public var checksumOffset: Int
    /// VIRTIO_NET_HDR_GSO_* without the ECN bit.
    public var gsoType: UInt8
    /// Payload bytes per segment.
    public var gsoSize: Int

    public static let none = OffloadHeader(
        needsChecksum: false, checksumStart: 0,
        checksumOffset: 0, gsoType: 0, gsoSize: 0)

    public init(
        needsChecksum: Bool, checksumStart: Int, checksumOffset: Int, gsoType: UInt8,
        gsoSize: Int
    ) {
        self.needsChecksum = needsChecksum
        self.checksumStart = checksumStart
        self.checksumOffset = checksumOffset
        self.gsoType = gsoType
        self.gsoSize = gsoSize
    }

    /// Reads the header the kernel put before a frame.
    public init(_ header: virtio_net_hdr) {
        needsChecksum = header.flags & UInt8(VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0
        checksumStart = Int(header.csum_start)
        checksumOffset = Int(header.csum_offset)
        gsoType = header.gso_type & ~UInt8(VIRTIO_NET_HDR_GSO_ECN)
        gsoSize = Int(header.gso_size)
    }

    static let gsoTCPv4 = UInt8(VIRTIO_NET_HDR_GSO_TCPV4)
    static let gsoTCPv6 = UInt8(VIRTIO_NET_HDR_GSO_TCPV6)

    var isSegmentationOffload: Bool { gsoType != UInt8(VIRTIO_NET_HDR_GSO_NONE) }

    /// Computes the transport checksum the sender left to the device over `packet`, which
    /// starts after the Ethernet header, without changing the packet. Returns the checksum's
    /// offset and value, `.some(nil)` when nothing is pending, and nil when the offsets lie
    /// outside the packet.
    func pendingChecksum(of packet: UnsafeRawBufferPointer) -> (offset: Int, value: UInt16)?? {
        guard needsChecksum else { return .some(nil) }
        let start = checksumStart - Ethernet.headerSize
        let field = start + checksumOffset
        guard start >= 0, field >= start, field + 2 <= packet.count else { return nil }
        let sum = InternetChecksum.sum(packet.slice(start, packet.count - start))
        return (field, InternetChecksum.finish(sum))
    }

    /// Completes a partial checksum in an inner packet copied to `packet`, whose frame had
    /// `frameHeaderLength` bytes before it. Returns false when the offsets lie outside it.
    @inline(__always)
    func completeChecksum(in packet: UnsafeMutableRawBufferPointer, frameHeaderLength: Int) -> Bool
    {
        guard needsChecksum else { return true }
        return completePendingChecksum(in: packet, frameHeaderLength: frameHeaderLength)
    }

    @inline(never)
    private func completePendingChecksum(
        in packet: UnsafeMutableRawBufferPointer, frameHeaderLength: Int
    ) -> Bool {
        let start = checksumStart - frameHeaderLength
        let field = start + checksumOffset
        guard start >= 0, field >= start, field + 2 <= packet.count else { return false }
        // The field contains the folded pseudo-header sum, so summing over it gives the total.
        let sum = InternetChecksum.sum(
            UnsafeRawBufferPointer(packet.slice(start, packet.count - start)))
        packet.writeUInt16(InternetChecksum.finish(sum), at: field)
        return true
    }
}

enum TCP {
    static let sequenceOffset = 4
    static let dataOffsetByte = 12
    static let flagsOffset = 13
    static let checksumOffset = 16
    static let minimumHeaderSize = 20
    static let fin: UInt8 = 0x01
    static let psh: UInt8 = 0x08
    static let cwr: UInt8 = 0x80
}

extension Pipeline {
    /// Splits a TCP GSO frame into segments of at most `maximumInner` bytes, the largest inner
    /// packet the tunnel carries at its path MTU, and encapsulates each one. UDP GSO frames
    /// go to `segmentUDPAndEncapsulate`, which may send an ICMP error to `replySink`, the
    /// inside interface, addressed to `senderMAC`.
    func segmentAndEncapsulate<Sink: FrameSink, ReplySink: FrameSink>(
        _ packet: UnsafeRawBufferPointer, info: IPPacketInfo, offload: OffloadHeader,
        maximumInner: Int, state: SAState, sgt: SGT?, forwarding: ForwardingTable, sink: Sink,
        replySink: ReplySink?, senderMAC: MACAddress
    ) -> PacketVerdict {
        if offload.gsoType == OffloadHeader.gsoUDPL4 {
            return segmentUDPAndEncapsulate(
                packet, info: info, offload: offload, maximumInner: maximumInner, state: state,
                sgt: sgt, forwarding: forwarding, sink: sink, replySink: replySink,
                senderMAC: senderMAC)
        }
        let expectedType = info.isIPv4 ? OffloadHeader.gsoTCPv4 : OffloadHeader.gsoTCPv6
        guard offload.gsoType == expectedType, info.ipProtocol == IPProtocolNumber.tcp,
            !info.isFragment, info.headerLength + TCP.minimumHeaderSize <= info.length
        else { return drop(.unsupportedOffload) }
        let tcpOffset = info.headerLength
        let tcpHeaderLength = Int(packet[tcpOffset + TCP.dataOffsetByte] >> 4) * 4
        let headersLength = tcpOffset + tcpHeaderLength
        guard tcpHeaderLength >= TCP.minimumHeaderSize, headersLength <= info.length,
            offload.gsoSize > 0
        else { return drop(.unsupportedOffload) }

        // Segment size: the sender's, or smaller when ESP would push it past the path MTU.
        let segmentSize = min(offload.gsoSize, maximumInner - headersLength)
        guard segmentSize > 0 else { return drop(.tooBig) }

        let dataLength = info.length - headersLength
        let firstSequence = packet.readUInt32(at: tcpOffset + TCP.sequenceOffset)
        let firstIdentification = info.isIPv4 ? packet.readUInt16(at: IPv4.identificationOffset) : 0
        var frames = SplitFrames()
        var start = 0
        var index = 0
        repeat {
            let length = min(segmentSize, dataLength - start)
            let isFirst = start == 0
            let isLast = start + length >= dataLength
            let verdict = encapsulate(
                innerLength: headersLength + length, info: info, state: state, sgt: sgt,
                forwarding: forwarding, sink: sink
            ) { out in
                out.copyBytes(from: packet.slice(0, headersLength), at: 0)
                HopLimit.decrement(out, isIPv4: info.isIPv4)
                out.copyBytes(from: packet.slice(headersLength + start, length), at: headersLength)
                TCPSegment.rewrite(
                    out, info: info, tcpOffset: tcpOffset,
                    sequence: firstSequence &+ UInt32(truncatingIfNeeded: start),
                    identification: firstIdentification &+ UInt16(truncatingIfNeeded: index),
                    isFirst: isFirst, isLast: isLast)
                return true
            }
            frames.add(verdict)
            start += length
            index += 1
        } while start < dataLength && !frames.isStopped
        return frames.verdict(otherwise: .tooBig)
    }
}

/// Fixes the headers of one segment cut from a TCP GSO frame.
enum TCPSegment {
    static func rewrite(
        _ segment: UnsafeMutableRawBufferPointer, info: IPPacketInfo,
        tcpOffset: Int, sequence: UInt32, identification: UInt16, isFirst: Bool,
        isLast: Bool
    ) {
        // IP lengths (and the IPv4 header checksum).
        if info.isIPv4 {
            segment.writeUInt16(UInt16(segment.count), at: IPv4.totalLengthOffset)
            segment.writeUInt16(identification, at: IPv4.identificationOffset)
            segment.writeUInt16(0, at: IPv4.checksumOffset)
            let headerSum = InternetChecksum.sum(
                UnsafeRawBufferPointer(segment.slice(0, tcpOffset)))
            segment.writeUInt16(InternetChecksum.finish(headerSum), at: IPv4.checksumOffset)
        } else {
            segment.writeUInt16(
                UInt16(segment.count - IPv6.headerSize),
                at: IPv6.payloadLengthOffset)
        }

        // Sequence number and the flags that belong to the first or last segment only.
        segment.writeUInt32(sequence, at: tcpOffset + TCP.sequenceOffset)
        var flags = segment[tcpOffset + TCP.flagsOffset]
        if !isLast { flags &= ~(TCP.fin | TCP.psh) }
        if !isFirst { flags &= ~TCP.cwr }
        segment[tcpOffset + TCP.flagsOffset] = flags

        // Full TCP checksum over the pseudo-header and the segment.
        let tcpLength = segment.count - tcpOffset
        segment.writeUInt16(0, at: tcpOffset + TCP.checksumOffset)
        let pseudo = InternetChecksum.pseudoHeaderSum(
            source: info.source, destination: info.destination, ipProtocol: IPProtocolNumber.tcp,
            length: tcpLength)
        let sum = InternetChecksum.sum(
            UnsafeRawBufferPointer(segment.slice(tcpOffset, tcpLength)), initial: pseudo)
        segment.writeUInt16(InternetChecksum.finish(sum), at: tcpOffset + TCP.checksumOffset)
    }
}
