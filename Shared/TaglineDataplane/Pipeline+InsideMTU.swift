// Decrypted inner packets larger than the inside link's MTU. The peer sizes
// packets for its own tunnel, not for this gateway's inside link, and a link
// drops a frame over its MTU without a trace. An IPv4 packet without DF is cut
// into fragments that fit (RFC 791 §3.2). Any other packet is dropped and
// counted as too big. When it has DF set or is IPv6, its sender across the
// tunnel also gets an ICMP error with the inside MTU.

import TaglineCore

extension Pipeline {
    /// Sends `packet`, a decrypted inner packet longer than the inside MTU whose TTL is
    /// already lowered, as IPv4 fragments to `nextHop`, or drops it when it has DF set, is
    /// IPv6 or carries IPv4 options. `packet` may lie in a frame reserved from `sink`. For a
    /// packet with DF set or an IPv6 packet, an ICMP error quoting it (TTL lowered) goes
    /// back through the tunnel to `replySink`, when one is given.
    func deliverFragments<Sink: FrameSink, ReplySink: FrameSink>(
        _ packet: UnsafeRawBufferPointer, info: IPPacketInfo, nextHop: IPAddress,
        saTable: SATable, forwarding: ForwardingTable, sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        // Only the source may fragment an IPv6 packet or an IPv4 packet with DF set.
        if !info.isIPv4 || info.dontFragment {
            if let replySink {
                sendICMPErrorThroughTunnel(
                    .packetTooBig(mtu: forwarding.inside.mtu), about: packet, info: info,
                    saTable: saTable, forwarding: forwarding, sink: replySink)
            }
            return drop(.tooBig)
        }

        let headerLength = info.headerLength
        let chunkLength = (forwarding.inside.mtu - headerLength) / 8 * 8
        guard headerLength == IPv4.minimumHeaderSize,
            chunkLength > 0, packet.count <= outerFragments.buffer.count
        else { return drop(.tooBig) }

        // The next reservation reuses the frame the packet lies in, so it is copied first. The
        // scratch buffer is otherwise used only while encrypting, never during this call.
        let copy = outerFragments.buffer
        copy.copyBytes(from: packet, at: 0)
        let original = UnsafeRawBufferPointer(copy.slice(0, packet.count))
        let originalFlags = original.readUInt16(at: IPv4.flagsOffset)
        let originalOffset = Int(originalFlags & IPv4.fragmentOffsetMask)
        let originalMoreFragments = originalFlags & IPv4.moreFragments != 0
        let mac = linkAddress(of: nextHop, on: forwarding.inside, forwarding: forwarding)

        let dataLength = info.length - headerLength
        guard originalOffset * 8 + dataLength <= 65535 else { return drop(.tooBig) }
        var frames = SplitFrames()
        var start = 0
        while start < dataLength {
            let length = min(chunkLength, dataLength - start)
            let moreFragments = start + length < dataLength || originalMoreFragments
            guard let out = sink.reserveFrame() else { return drop(.txRingFull) }
            let frameLength = Ethernet.headerSize + headerLength + length
            guard frameLength <= out.count else { return drop(.tooBig) }
            Ethernet.writeHeader(
                out, at: 0, destination: mac ?? MACAddress(0), source: forwarding.inside.mac,
                type: Ethernet.typeIPv4)
            let fragment = out.slice(Ethernet.headerSize, headerLength + length)
            fragment.copyBytes(from: original.slice(0, headerLength), at: 0)
            fragment.copyBytes(from: original.slice(headerLength + start, length), at: headerLength)
            fragment.writeUInt16(UInt16(headerLength + length), at: IPv4.totalLengthOffset)
            fragment.writeUInt16(
                (moreFragments ? IPv4.moreFragments : 0) | UInt16(originalOffset + start / 8),
                at: IPv4.flagsOffset)
            fragment.writeUInt16(0, at: IPv4.checksumOffset)
            let sum = InternetChecksum.sum(UnsafeRawBufferPointer(fragment.slice(0, headerLength)))
            fragment.writeUInt16(InternetChecksum.finish(sum), at: IPv4.checksumOffset)
            if mac != nil {
                sink.commitFrame(offset: 0, length: frameLength)
                frames.sent += 1
            } else if case .queued = holdFrame(
                UnsafeRawBufferPointer(out.slice(0, frameLength)), nextHop: nextHop,
                on: forwarding.inside, sink: sink, reserved: out)
            {
                frames.queued += 1
            }
            start += length
        }
        return frames.verdict(otherwise: .unresolvedQueueFull)
    }
}
