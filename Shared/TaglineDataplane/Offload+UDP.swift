// UDP segmentation offload. A sender that set UDP_SEGMENT hands the device one
// large datagram in place of several, each of `gso_size` payload bytes
// (the last may be shorter). On veth the frame reaches AF_PACKET whole, with
// gso_type VIRTIO_NET_HDR_GSO_UDP_L4, and the dataplane cuts it into the
// datagrams the receiver expects before encryption.

import TaglineCore

extension OffloadHeader {
    /// VIRTIO_NET_HDR_GSO_UDP_L4 (linux/virtio_net.h), which older kernel headers lack.
    static let gsoUDPL4: UInt8 = 5
}

extension Pipeline {
    /// Splits a UDP GSO frame into datagrams of `offload.gsoSize` payload bytes, each with
    /// its own IP header, lengths and UDP checksum, and encapsulates each one. UDP keeps
    /// message boundaries, so a datagram that does not fit the tunnel is not cut smaller:
    /// `fragmentUDPDatagrams` fragments it or drops the frame.
    func segmentUDPAndEncapsulate<Sink: FrameSink, ReplySink: FrameSink>(
        _ packet: UnsafeRawBufferPointer, info: IPPacketInfo, offload: OffloadHeader,
        maximumInner: Int, state: SAState, sgt: SGT?, forwarding: ForwardingTable, sink: Sink,
        replySink: ReplySink?, senderMAC: MACAddress
    ) -> PacketVerdict {
        let udpOffset = info.headerLength
        let headersLength = udpOffset + UDP.headerSize
        guard info.ipProtocol == IPProtocolNumber.udp, !info.isFragment,
            headersLength < info.length, offload.gsoSize > 0
        else { return drop(.unsupportedOffload) }

        guard headersLength + offload.gsoSize <= maximumInner else {
            return fragmentUDPDatagrams(
                packet, info: info, offload: offload, maximumInner: maximumInner, state: state,
                sgt: sgt, forwarding: forwarding, sink: sink, replySink: replySink,
                senderMAC: senderMAC)
        }

        let dataLength = info.length - headersLength
        let firstIdentification = info.isIPv4 ? packet.readUInt16(at: IPv4.identificationOffset) : 0
        var frames = SplitFrames()
        var start = 0
        var index = 0
        repeat {
            let length = min(offload.gsoSize, dataLength - start)
            let verdict = encapsulate(
                innerLength: headersLength + length, info: info, state: state, sgt: sgt,
                forwarding: forwarding, sink: sink
            ) { out in
                out.copyBytes(from: packet.slice(0, headersLength), at: 0)
                HopLimit.decrement(out, isIPv4: info.isIPv4)
                out.copyBytes(from: packet.slice(headersLength + start, length), at: headersLength)
                UDPSegment.rewrite(
                    out, info: info, udpOffset: udpOffset,
                    identification: firstIdentification &+ UInt16(truncatingIfNeeded: index))
                return true
            }
            frames.add(verdict)
            start += length
            index += 1
        } while start < dataLength && !frames.isStopped
        return frames.verdict(otherwise: .tooBig)
    }
}

/// Fixes the headers of one datagram cut from a UDP GSO frame.
enum UDPSegment {
    static func rewrite(
        _ datagram: UnsafeMutableRawBufferPointer, info: IPPacketInfo, udpOffset: Int,
        identification: UInt16
    ) {
        // IP lengths (and the IPv4 header checksum).
        if info.isIPv4 {
            datagram.writeUInt16(UInt16(datagram.count), at: IPv4.totalLengthOffset)
            datagram.writeUInt16(identification, at: IPv4.identificationOffset)
            datagram.writeUInt16(0, at: IPv4.checksumOffset)
            let headerSum = InternetChecksum.sum(
                UnsafeRawBufferPointer(datagram.slice(0, udpOffset)))
            datagram.writeUInt16(InternetChecksum.finish(headerSum), at: IPv4.checksumOffset)
        } else {
            datagram.writeUInt16(
                UInt16(datagram.count - IPv6.headerSize), at: IPv6.payloadLengthOffset)
        }

        // UDP length and the full checksum over the pseudo-header and the datagram. A sum of
        // zero is sent as 0xFFFF, because zero means "no checksum" (RFC 768).
        let udpLength = datagram.count - udpOffset
        datagram.writeUInt16(UInt16(udpLength), at: udpOffset + UDP.lengthOffset)
        datagram.writeUInt16(0, at: udpOffset + UDP.checksumOffset)
        let pseudo = InternetChecksum.pseudoHeaderSum(
            source: info.source, destination: info.destination, ipProtocol: IPProtocolNumber.udp,
            length: udpLength)
        let sum = InternetChecksum.sum(
            UnsafeRawBufferPointer(datagram.slice(udpOffset, udpLength)), initial: pseudo)
        let checksum = InternetChecksum.finish(sum)
        datagram.writeUInt16(checksum == 0 ? 0xFFFF : checksum, at: udpOffset + UDP.checksumOffset)
    }
}
