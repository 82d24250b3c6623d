// Datagrams of a UDP GSO frame that are too big for the tunnel. UDP keeps
// message boundaries, so a datagram is never cut into smaller datagrams.
// Each one is fragmented as a single inner packet would be. An IPv4 datagram
// without DF is fragmented before encryption, each fragment with its own CMD,
// or after encryption when so configured. An IPv6 datagram of at most 1280
// bytes travels as outer fragments, because IPv6 senders do not go below that
// size (RFC 8201 §4). Any other frame is dropped, and its sender gets
// "fragmentation needed" or "packet too big" with the tunnel's inner MTU.

import TaglineCore

extension Pipeline {
    /// Cuts a UDP GSO frame whose datagrams exceed `maximumInner` into datagrams, and
    /// fragments and encapsulates each one. Drops the frame as too big when its datagrams
    /// may not be fragmented, and sends an ICMP error to `replySink`, the inside interface,
    /// addressed to `senderMAC`. The error quotes the frame's own headers, as Linux does for
    /// a GSO packet over the MTU.
    func fragmentUDPDatagrams<Sink: FrameSink, ReplySink: FrameSink>(
        _ packet: UnsafeRawBufferPointer, info: IPPacketInfo, offload: OffloadHeader,
        maximumInner: Int, state: SAState, sgt: SGT?, forwarding: ForwardingTable, sink: Sink,
        replySink: ReplySink?, senderMAC: MACAddress
    ) -> PacketVerdict {
        let udpOffset = info.headerLength
        let headersLength = udpOffset + UDP.headerSize
        let ipv6Minimum = !info.isIPv4 && headersLength + offload.gsoSize <= PathMTU.minimumIPv6
        guard ipv6Minimum || (info.isIPv4 && !info.dontFragment) else {
            if let replySink {
                sendICMPError(
                    .packetTooBig(mtu: maximumInner), about: packet, info: info,
                    destinationMAC: senderMAC, forwarding: forwarding, sink: replySink)
            }
            state.counters.add(.encapsFailed)
            return drop(.tooBig)
        }
        let afterEncryption = ipv6Minimum || context.fragmentation.afterEncryption
        let pathMTU = state.pathMTU.effective(interfaceMTU: forwarding.outside.mtu)

        let dataLength = info.length - headersLength
        let firstIdentification = info.isIPv4 ? packet.readUInt16(at: IPv4.identificationOffset) : 0
        var sent = 0
        var queued = 0
        var start = 0
        var index = 0
        var stopped = false
        repeat {
            // The datagram, with its headers fixed, in the worker's datagram buffer.
            let length = min(offload.gsoSize, dataLength - start)
            let datagram = outerFragments.datagram.slice(0, headersLength + length)
            datagram.copyBytes(from: packet.slice(0, headersLength), at: 0)
            datagram.copyBytes(from: packet.slice(headersLength + start, length), at: headersLength)
            UDPSegment.rewrite(
                datagram, info: info, udpOffset: udpOffset,
                identification: firstIdentification &+ UInt16(truncatingIfNeeded: index))
            var datagramInfo = info
            datagramInfo.length = datagram.count
            let source = UnsafeRawBufferPointer(datagram)

            // Fragments, or one packet for a short last datagram that fits.
            let verdict: PacketVerdict
            if datagram.count <= maximumInner {
                verdict = encapsulate(
                    innerLength: datagram.count, info: datagramInfo, state: state, sgt: sgt,
                    forwarding: forwarding, sink: sink
                ) { out in
                    out.copyBytes(from: source, at: 0)
                    HopLimit.decrement(out, isIPv4: info.isIPv4)
                    return true
                }
            } else if afterEncryption {
                verdict = encryptAndFragment(
                    source, info: datagramInfo, offload: .none, mtu: pathMTU, state: state,
                    sgt: sgt, forwarding: forwarding, sink: sink)
            } else {
                verdict = fragmentAndEncapsulate(
                    source, info: datagramInfo, maximumLength: maximumInner,
                    transportChecksum: nil, state: state, sgt: sgt, forwarding: forwarding,
                    sink: sink)
            }
            switch verdict {
            case .forwarded(let frames): sent += frames
            case .queued: queued += 1
            default: break
            }
            start += length
            index += 1
            stopped = SplitFrames.stopsSplit(verdict)
        } while start < dataLength && !stopped

        if sent > 0 { return .forwarded(frames: sent) }
        return queued > 0 ? .queued : .dropped(.tooBig)
    }
}
