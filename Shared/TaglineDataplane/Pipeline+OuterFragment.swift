// Fragmentation after encryption (`crypto ipsec fragmentation
// after-encryption`). An inner IPv4 packet without DF that does not fit the
// tunnel is encrypted whole, with one CMD, into a scratch buffer. The outer
// packet is then cut into fragments that fit the path MTU. An IPv4 outer
// packet is fragmented as RFC 791 §3.2 describes, with DF clear. An IPv6
// outer packet gets a Fragment header from the gateway, its source
// (RFC 8200 §4.5). The peer reassembles before ESP processing (RFC 4303
// §3.4.1), so the CMD travels once.

import TaglineCore

/// A worker's scratch buffer for one ESP packet before it is cut, and the next
/// identification of an IPv6 Fragment header.
final class OuterFragmentState {
    /// An Ethernet header and the largest IP packet.
    static let bufferSize = Ethernet.headerSize + 65535
    /// Size of the IPv6 Fragment header.
    static let ipv6FragmentHeaderSize = 8
    let buffer: UnsafeMutableRawBufferPointer
    /// One datagram cut from a UDP GSO frame, built here before it is fragmented, because
    /// `buffer` is in use while its ESP packet is built.
    let datagram: UnsafeMutableRawBufferPointer
    var nextIdentification: UInt32 = 1

    init() {
        buffer = .allocate(byteCount: OuterFragmentState.bufferSize, alignment: 16)
        datagram = .allocate(byteCount: 65535, alignment: 16)
    }

    deinit {
        buffer.deallocate()
        datagram.deallocate()
    }
}

extension Pipeline {
    /// Encrypts `packet` whole into one ESP packet and sends it as outer fragments of at most
    /// `mtu` bytes each. `offload` completes a checksum the sender left to the device.
    func encryptAndFragment<Sink: FrameSink>(
        _ packet: UnsafeRawBufferPointer, info: IPPacketInfo, offload: OffloadHeader, mtu: Int,
        state: SAState, sgt: SGT?, forwarding: ForwardingTable, sink: Sink
    ) -> PacketVerdict {
        let sa = state.plan
        let transform = state.outboundTransforms[worker]
        let cmdLength = sgt == nil ? 0 : CMDHeader.size
        let layout = OutboundLayout(
            sa: sa, transform: transform, payloadLength: cmdLength + info.length)
        let scratch = outerFragments.buffer
        let isIPv4 = sa.remoteAddress.isIPv4
        let headerSize = layout.outerIPHeaderSize
        let fragmentHeaderSize = isIPv4 ? 0 : OuterFragmentState.ipv6FragmentHeaderSize
        let chunkLength = (mtu - headerSize - fragmentHeaderSize) / 8 * 8
        guard layout.ipLength - (isIPv4 ? 0 : headerSize) <= 65535,
            layout.frameLength <= scratch.count, chunkLength > 0
        else {
            state.counters.add(.encapsFailed)
            return drop(.tooBig)
        }
        guard let nextHop = forwarding.nextHop(to: sa.remoteAddress, through: forwarding.outside)
        else { return drop(.noRoute) }
        let nextHopMAC = linkAddress(of: nextHop, on: forwarding.outside, forwarding: forwarding)
        guard let sequence = state.sequence.next() else { return drop(.sequenceExhausted) }

        // The inner packet with its CMD, then the outer headers (DF clear), then ESP.
        let payload = scratch.slice(layout.payloadOffset, layout.payloadLength)
        if let sgt {
            let etherType = info.isIPv4 ? CMDHeader.etherTypeIPv4 : CMDHeader.etherTypeIPv6
            CMDHeader(sgt: sgt, innerEtherType: etherType).write(to: payload)
        }
        let inner = payload.slice(cmdLength, info.length)
        inner.copyBytes(from: packet.slice(0, info.length), at: 0)
        HopLimit.decrement(inner, isIPv4: info.isIPv4)
        guard offload.completeChecksum(in: inner, frameHeaderLength: Ethernet.headerSize) else {
            return drop(.unsupportedOffload)
        }
        let trafficClass = info.isIPv4 ? inner[1] : 0
        writeOuterHeaders(
            scratch, layout: layout, sa: sa, trafficClass: trafficClass, dontFragment: false)
        let nextHeader =
            sgt != nil
            ? context.cmdNextHeader
            : (info.isIPv4 ? ESPLayout.nextHeaderIPv4 : ESPLayout.nextHeaderIPv6)
        guard
            ESPSeal.seal(
                scratch.slice(layout.espOffset, layout.espLength), transform: transform,
                spi: sa.outboundSPI, sequence: sequence, payloadLength: layout.payloadLength,
                nextHeader: nextHeader)
        else {
            state.counters.add(.internalErrorsSend)
            return drop(.cryptoError)
        }
        if sa.udpEncapsulation != nil && !isIPv4 {
            writeUDPChecksumIPv6(scratch, layout: layout, sa: sa)
        }

        // One frame per fragment; with the next hop unknown, each is held.
        let ipPacket = UnsafeRawBufferPointer(scratch.slice(Ethernet.headerSize, layout.ipLength))
        let identification = outerFragments.nextIdentification
        if !isIPv4 { outerFragments.nextIdentification &+= 1 }
        let dataLength = layout.ipLength - headerSize
        var frames = SplitFrames()
        var failure = DropReason.tooBig
        var start = 0
        while start < dataLength {
            let length = min(chunkLength, dataLength - start)
            let more = start + length < dataLength
            guard let out = sink.reserveFrame() else {
                drops.increment(.txRingFull)
                failure = .txRingFull
                break
            }
            let ipLength = headerSize + fragmentHeaderSize + length
            let frameLength = Ethernet.headerSize + ipLength
            guard frameLength <= out.count else {
                drops.increment(.tooBig)
                break
            }
            Ethernet.writeHeader(
                out, at: 0, destination: nextHopMAC ?? MACAddress(0),
                source: forwarding.outside.mac,
                type: isIPv4 ? Ethernet.typeIPv4 : Ethernet.typeIPv6)
            let ip = out.slice(Ethernet.headerSize, ipLength)
            ip.copyBytes(from: ipPacket.slice(0, headerSize), at: 0)
            let offsetUnits = UInt16(start / 8)
            if isIPv4 {
                ip.writeUInt16(UInt16(ipLength), at: IPv4.totalLengthOffset)
                ip.writeUInt16(
                    (more ? IPv4.moreFragments : 0) | offsetUnits, at: IPv4.flagsOffset)
                ip.writeUInt16(0, at: IPv4.checksumOffset)
                let sum = InternetChecksum.sum(UnsafeRawBufferPointer(ip.slice(0, headerSize)))
                ip.writeUInt16(InternetChecksum.finish(sum), at: IPv4.checksumOffset)
            } else {
                // Fragment header: Next Header, reserved, offset and M flag, identification.
                ip.writeUInt16(
                    UInt16(fragmentHeaderSize + length), at: IPv6.payloadLengthOffset)
                ip[IPv6.nextHeaderOffset] = IPv6.fragment
                ip[headerSize] = ipPacket[IPv6.nextHeaderOffset]
                ip[headerSize + 1] = 0
                ip.writeUInt16(offsetUnits << 3 | (more ? 1 : 0), at: headerSize + 2)
                ip.writeUInt32(identification, at: headerSize + 4)
            }
            ip.copyBytes(
                from: ipPacket.slice(headerSize + start, length),
                at: headerSize + fragmentHeaderSize)
            if nextHopMAC != nil {
                sink.commitFrame(offset: 0, length: frameLength)
                frames.sent += 1
            } else if case .queued = holdFrame(
                UnsafeRawBufferPointer(out.slice(0, frameLength)), nextHop: nextHop,
                on: forwarding.outside, sink: sink, reserved: out)
            {
                frames.queued += 1
            }
            start += length
        }
        guard start >= dataLength else {
            state.counters.add(.encapsFailed)
            return .dropped(failure)
        }

        let counters = state.counters
        counters.add(.encaps)
        counters.add(.encrypt)
        if transform.icvLength > 0 { counters.add(.digest) }
        counters.add(.bytesOut, UInt64(info.length))
        if let sgt {
            counters.add(.tagged)
            reportDebug(.inserted, sgt: sgt.value, source: info.source)
        } else {
            counters.add(.notTagged)
        }
        return frames.verdict(otherwise: .unresolvedQueueFull)
    }
}
