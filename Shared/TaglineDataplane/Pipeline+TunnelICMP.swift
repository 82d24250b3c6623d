// ICMP errors about decrypted packets, sent back through the tunnel. A packet
// that arrived through the tunnel and does not fit the inside link, because
// it is IPv4 with DF set or IPv6 (which only its source may fragment), came
// from a host across the tunnel. That host gets "fragmentation needed" with
// the inside MTU as next-hop MTU (RFC 1191) or ICMPv6 "packet too big"
// (RFC 4443 §3.2), sent from the gateway's inside address. The error takes
// the outbound path of any clear packet: policy lookup, tag, seal, frame.
// Without it the sender's path MTU discovery never learns the inside MTU.

import TaglineCore

extension Pipeline {
    /// Sends the error `kind` about `packet`, a decrypted inner packet, to the packet's source
    /// through the tunnel, framed for `sink` (the outside interface). The error's outbound SA
    /// comes from `saTable` like that of a clear packet, and its SGT is the binding of the
    /// inside address when the SA negotiated tagging. Counts `icmpErrorNoPolicy` when no
    /// outbound SA covers the error. `packet` must not lie in a frame reserved from `sink`.
    func sendICMPErrorThroughTunnel<Sink: FrameSink>(
        _ kind: ICMPErrorKind, about packet: UnsafeRawBufferPointer, info: IPPacketInfo,
        saTable: SATable, forwarding: ForwardingTable, sink: Sink
    ) {
        guard kind.mayReport(packet, info: info) else { return }

        // The error is a packet from the inside address to the sender. Its SA comes first, so
        // that errors which cannot leave spend no token of the rate limit.
        guard
            let source = forwarding.inside.addresses.first(where: {
                $0.isIPv4 == info.isIPv4 && !isLinkScope($0)
            })
        else {
            drops.increment(.icmpErrorNoPolicy)
            return
        }
        var errorInfo = IPPacketInfo(
            isIPv4: info.isIPv4, source: source, destination: info.source,
            ipProtocol: info.isIPv4 ? IPProtocolNumber.icmp : IPProtocolNumber.icmpv6,
            ports: nil, length: 0,
            headerLength: info.isIPv4 ? IPv4.minimumHeaderSize : IPv6.headerSize,
            isFragment: false, dontFragment: false)
        guard let state = outboundSA(saTable, for: errorInfo) else {
            drops.increment(.icmpErrorNoPolicy)
            return
        }
        guard icmpRateLimit.take(now: monotonicNanoseconds()) else {
            drops.increment(.icmpRateLimited)
            return
        }
        var sgt: SGT?
        if state.plan.taggingNegotiated {
            sgt = context.bindingTable.current.sgt(for: source)
        }

        // The quote is cut so that the error fits the tunnel without fragmentation.
        let pathMTU = state.pathMTU.effective(interfaceMTU: forwarding.outside.mtu)
        let cmdLength = sgt == nil ? 0 : CMDHeader.size
        let maximumInner =
            OutboundLayout.maximumPayload(
                sa: state.plan, transform: state.outboundTransforms[worker], mtu: pathMTU)
            - cmdLength
        errorInfo.length = ICMPErrorKind.messageLength(
            quoting: packet.count, isIPv4: info.isIPv4, maximumLength: maximumInner)
        guard errorInfo.length <= maximumInner else {
            drops.increment(.tooBig)
            return
        }

        let identification = nextIdentification
        if info.isIPv4 { nextIdentification &+= 1 }
        _ = encapsulate(
            innerLength: errorInfo.length, info: errorInfo, state: state, sgt: sgt,
            forwarding: forwarding, sink: sink
        ) { out in
            kind.write(
                into: out, about: packet, isIPv4: info.isIPv4, source: source,
                destination: info.source, identification: identification)
            return true
        }
    }
}
