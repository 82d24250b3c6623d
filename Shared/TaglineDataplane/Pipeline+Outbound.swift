// Outbound: a clear frame from the inside interface becomes one ESP frame
// (or several, for a GSO frame) on the outside interface. The inner packet is
// copied once, straight into the TX frame, and encrypted in place there.

import TaglineCore
import TaglineCrypto

/// Offsets and lengths of the outer headers, ESP and payload in an outbound frame.
struct OutboundLayout {
    var outerIPHeaderSize: Int
    var udpHeaderSize: Int
    var espOffset: Int
    var payloadOffset: Int
    var payloadLength: Int
    /// Payload, padding and trailer.
    var paddedLength: Int
    var espLength: Int
    /// Outer IP packet.
    var ipLength: Int
    var frameLength: Int

    /// Computes the offsets with wrapping arithmetic, because no term exceeds a frame's length
    /// and each overflow check would cost an instruction per packet.
    @inline(__always)
    init(sa: SAPlan, transform: ESPTransform, payloadLength: Int) {
        outerIPHeaderSize = sa.outerIPHeaderSize
        udpHeaderSize = sa.udpHeaderSize
        espOffset = Ethernet.headerSize &+ outerIPHeaderSize &+ udpHeaderSize
        payloadOffset = espOffset &+ ESPLayout.headerSize &+ transform.ivLength
        self.payloadLength = payloadLength
        paddedLength = transform.paddedLength(payloadLength)
        espLength = transform.fixedOverhead &+ paddedLength
        ipLength = outerIPHeaderSize &+ udpHeaderSize &+ espLength
        frameLength = Ethernet.headerSize &+ ipLength
    }

    /// Returns the largest payload whose outer IP packet fits `mtu`, with wrapping arithmetic
    /// as in `init`.
    @inline(__always)
    static func maximumPayload(sa: SAPlan, transform: ESPTransform, mtu: Int) -> Int {
        let room = mtu &- sa.outerIPHeaderSize &- sa.udpHeaderSize &- transform.fixedOverhead
        // Rounded to the block size towards zero, as a division would, so that a tiny MTU
        // still gives the same negative result.
        let padded =
            room >= 0 ? room & ~transform.blockMask : 0 &- ((0 &- room) & ~transform.blockMask)
        return padded &- ESPLayout.trailerSize
    }
}

extension Pipeline {
    /// Processes one frame received on the inside interface. `offload` describes checksum
    /// and segmentation work the sender left undone (from the frame's virtio-net header).
    /// ESP goes to `sink`, the outside interface. An ICMP error for a packet too big for the
    /// tunnel goes back to `replySink`, the inside interface, when one is given.
    public func processInside<Sink: FrameSink, ReplySink: FrameSink>(
        _ frame: UnsafeRawBufferPointer, offload: OffloadHeader = .none, sink: Sink,
        replySink: ReplySink?
    ) -> PacketVerdict {
        processInside(
            frame, tables: context.currentTables(), offload: offload, sink: sink,
            replySink: replySink)
    }

    /// `processInside` with the tables the caller read at the start of its burst.
    public func processInside<Sink: FrameSink, ReplySink: FrameSink>(
        _ frame: UnsafeRawBufferPointer, tables: PacketTables, offload: OffloadHeader = .none,
        sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        let forwarding = tables.forwarding
        let packet: UnsafeRawBufferPointer
        let isIPv4: Bool
        switch ethernetStep(frame, interface: forwarding.inside, forwarding: forwarding) {
        case .routed(let ipPacket, let ipv4):
            packet = ipPacket
            isIPv4 = ipv4
        case .passed:
            return .passed
        case .dropped(let reason):
            return drop(reason)
        }
        guard let info = IPPacketInfo.parse(packet),
            info.isIPv4 == isIPv4
        else { return drop(.invalidIPHeader) }
        if isLocalAddress(info.destination, forwarding: forwarding) || isLinkScope(info.destination)
        {
            return .passed
        }

        // Policy, then the tag: only an SA that negotiated tagging carries one. The SA table
        // keeps the SA alive for the whole call, and the SA keeps its transforms alive, so both
        // are borrowed without a retain.
        guard let found = unretainedOutboundSA(tables.sa, for: info) else {
            return drop(outboundMissReason(tables.sa, packet: packet))
        }
        return found._withUnsafeGuaranteedRef { state in
            state.unretainedOutboundTransforms[worker]._withUnsafeGuaranteedRef { transform in
                processInside(
                    frame, packet: packet, info: info, state: state, transform: transform,
                    tables: tables, offload: offload, sink: sink, replySink: replySink)
            }
        }
    }

    /// Processes an inside packet whose outbound SA is known. `transform` is the SA's
    /// outbound transform of this worker.
    @inline(__always)
    private func processInside<Sink: FrameSink, ReplySink: FrameSink>(
        _ frame: UnsafeRawBufferPointer, packet: UnsafeRawBufferPointer, info: IPPacketInfo,
        state: SAState, transform: ESPTransform, tables: PacketTables, offload: OffloadHeader,
        sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        let forwarding = tables.forwarding
        var sgt: SGT?
        if state.plan.taggingNegotiated {
            sgt = tables.bindings.sgt(for: info.source)
        }
        let innerPacket = packet.slice(0, info.length)
        let sourceMAC = Ethernet.readMAC(frame, at: Ethernet.sourceOffset)

        // Forwarding into the tunnel costs one TTL, as in any router.
        guard HopLimit.read(innerPacket, isIPv4: info.isIPv4) > 1 else {
            if let replySink {
                sendICMPError(
                    .timeExceeded, about: innerPacket, info: info, destinationMAC: sourceMAC,
                    forwarding: forwarding, sink: replySink)
            }
            return drop(.ttlExpired)
        }
        guard ICMPErrorKind.namesOneHost(sourceOf: innerPacket, isIPv4: info.isIPv4) else {
            return drop(.martianSource)
        }

        // The tunnel's MTU: the outside interface's, or lower once the path reported less.
        let pathMTU = state.pathMTU.effective(interfaceMTU: forwarding.outside.mtu)
        let cmdLength = sgt == nil ? 0 : CMDHeader.size
        let maximumInner =
            OutboundLayout.maximumPayload(sa: state.plan, transform: transform, mtu: pathMTU)
            &- cmdLength
        if offload.isSegmentationOffload {
            return segmentAndEncapsulate(
                innerPacket, info: info, offload: offload, maximumInner: maximumInner,
                state: state, sgt: sgt, forwarding: forwarding, sink: sink,
                replySink: replySink, senderMAC: sourceMAC)
        }

        // Too big for the tunnel: cut TCP into smaller segments, tell other senders the MTU.
        if info.length > maximumInner {
            if info.ipProtocol == IPProtocolNumber.tcp && !info.isFragment {
                let resegment = OffloadHeader(
                    needsChecksum: false, checksumStart: 0, checksumOffset: 0,
                    gsoType: info.isIPv4 ? OffloadHeader.gsoTCPv4 : OffloadHeader.gsoTCPv6,
                    gsoSize: tcpSegmentSize(innerPacket, info: info, fitting: maximumInner))
                return segmentAndEncapsulate(
                    innerPacket, info: info, offload: resegment, maximumInner: maximumInner,
                    state: state, sgt: sgt, forwarding: forwarding, sink: sink,
                    replySink: replySink, senderMAC: sourceMAC)
            }
            // IPv6 senders do not go below 1280 bytes (RFC 8201 §4), so a narrower tunnel
            // carries such packets as outer fragments (RFC 8200 §5) in either fragmentation mode.
            let ipv6Minimum = !info.isIPv4 && info.length <= PathMTU.minimumIPv6
            if ipv6Minimum
                || (info.isIPv4 && !info.dontFragment && context.fragmentation.afterEncryption)
            {
                return encryptAndFragment(
                    innerPacket, info: info, offload: offload, mtu: pathMTU, state: state,
                    sgt: sgt, forwarding: forwarding, sink: sink)
            }
            if info.isIPv4 && !info.dontFragment {
                guard let checksum = offload.pendingChecksum(of: innerPacket) else {
                    return drop(.unsupportedOffload)
                }
                return fragmentAndEncapsulate(
                    innerPacket, info: info, maximumLength: maximumInner,
                    transportChecksum: checksum, state: state, sgt: sgt,
                    forwarding: forwarding, sink: sink)
            }
            if let replySink {
                sendICMPError(
                    .packetTooBig(mtu: maximumInner), about: innerPacket, info: info,
                    destinationMAC: sourceMAC, forwarding: forwarding, sink: replySink)
            }
            state.counters.add(.encapsFailed)
            return drop(.tooBig)
        }
        // The closure captures scalars only, so `info` need not be stored on the stack.
        let isIPv4 = info.isIPv4
        return encapsulate(
            innerLength: info.length, isIPv4: isIPv4, dontFragment: info.dontFragment,
            source: info.source, state: state, transform: transform, sgt: sgt,
            forwarding: forwarding, sink: sink
        ) { out in
            out.copyBytes(from: innerPacket, at: 0)
            HopLimit.decrement(out, isIPv4: isIPv4)
            return offload.completeChecksum(in: out, frameHeaderLength: Ethernet.headerSize)
        }
    }

    /// Encrypts one inner packet into a TX frame. `writeInner` copies the inner packet into
    /// the buffer it gets (exactly `innerLength` bytes) and returns false when it cannot.
    @inline(__always)
    func encapsulate<Sink: FrameSink>(
        innerLength: Int, info: IPPacketInfo, state: SAState, sgt: SGT?,
        forwarding: ForwardingTable, sink: Sink,
        writeInner: (UnsafeMutableRawBufferPointer) -> Bool
    ) -> PacketVerdict {
        encapsulate(
            innerLength: innerLength, isIPv4: info.isIPv4, dontFragment: info.dontFragment,
            source: info.source, state: state, sgt: sgt, forwarding: forwarding, sink: sink,
            writeInner: writeInner)
    }

    /// `encapsulate` with the three fields of the inner packet's `IPPacketInfo` it reads.
    func encapsulate<Sink: FrameSink>(
        innerLength: Int, isIPv4: Bool, dontFragment: Bool, source: IPAddress, state: SAState,
        sgt: SGT?, forwarding: ForwardingTable, sink: Sink,
        writeInner: (UnsafeMutableRawBufferPointer) -> Bool
    ) -> PacketVerdict {
        // The state keeps its transforms alive, so the worker's is borrowed without a retain.
        state.unretainedOutboundTransforms[worker]._withUnsafeGuaranteedRef { transform in
            encapsulate(
                innerLength: innerLength, isIPv4: isIPv4, dontFragment: dontFragment,
                source: source, state: state, transform: transform, sgt: sgt,
                forwarding: forwarding, sink: sink, writeInner: writeInner)
        }
    }

    /// Transparent, because the optimizer did not inline it with `@inline(__always)`, and the
    /// call cost about 27 instructions per packet by callgrind, mostly stacked arguments.
    @_transparent
    private func encapsulate<Sink: FrameSink>(
        innerLength: Int, isIPv4: Bool, dontFragment: Bool, source: IPAddress, state: SAState,
        transform: ESPTransform, sgt: SGT?, forwarding: ForwardingTable, sink: Sink,
        writeInner: (UnsafeMutableRawBufferPointer) -> Bool
    ) -> PacketVerdict {
        let sa = state.plan
        let cmdLength = sgt == nil ? 0 : CMDHeader.size
        let layout = OutboundLayout(
            sa: sa, transform: transform,
            payloadLength: cmdLength &+ innerLength)
        guard layout.ipLength <= forwarding.outside.mtu else {
            // processInside already resizes TCP segments and rejects other oversized packets,
            // so only a caller that skips those checks reaches this branch.
            state.counters.add(.encapsFailed)
            return drop(.tooBig)
        }

        // Next hop on the outside interface.
        guard
            let (nextHop, nextHopMAC) = outboundNextHop(
                to: sa.remoteAddress, forwarding: forwarding)
        else { return drop(.noRoute) }
        // An unknown next hop: the frame is built as usual, then held instead of sent.
        if nextHopMAC == nil,
            !unresolved.hasRoom(
                for: NeighbourKey(interfaceIndex: forwarding.outside.index, address: nextHop))
        {
            solicit(nextHop, on: forwarding.outside, sink: sink, now: monotonicNanoseconds())
            return drop(.unresolvedQueueFull)
        }
        // The frame first, so that a full ring uses up no sequence numbers.
        guard let out = sink.reserveFrame() else { return drop(.txRingFull) }
        guard let sequence = state.sequence.next() else { return drop(.sequenceExhausted) }
        guard layout.frameLength <= out.count else { return drop(.tooBig) }

        // Inner packet (and CMD) first, so a failed checksum completion writes nothing else.
        let payload = out.slice(layout.payloadOffset, layout.payloadLength)
        if let sgt {
            let etherType = isIPv4 ? CMDHeader.etherTypeIPv4 : CMDHeader.etherTypeIPv6
            CMDHeader(sgt: sgt, innerEtherType: etherType).write(to: payload)
        }
        guard writeInner(payload.slice(cmdLength, innerLength)) else {
            return drop(.unsupportedOffload)
        }

        // Ethernet, outer IP and UDP headers.
        Ethernet.writeHeader(
            out, at: 0, destination: nextHopMAC ?? MACAddress(0), source: forwarding.outside.mac,
            type: sa.remoteAddress.isIPv4 ? Ethernet.typeIPv4 : Ethernet.typeIPv6)
        let trafficClass = readTrafficClass(
            UnsafeRawBufferPointer(payload.slice(cmdLength, innerLength)))
        writeOuterHeaders(
            out, layout: layout, sa: sa, trafficClass: trafficClass,
            dontFragment: dontFragment && isIPv4)

        // ESP header, padding, trailer, encryption and ICV.
        let nextHeader =
            sgt != nil
            ? context.cmdNextHeader
            : (isIPv4 ? ESPLayout.nextHeaderIPv4 : ESPLayout.nextHeaderIPv6)
        let esp = out.slice(layout.espOffset, layout.espLength)
        guard
            ESPSeal.seal(
                esp, transform: transform, spi: sa.outboundSPI, sequence: sequence,
                payloadLength: layout.payloadLength, nextHeader: nextHeader)
        else {
            state.counters.add(.internalErrorsSend)
            return drop(.cryptoError)
        }
        if sa.udpEncapsulation != nil && !sa.remoteAddress.isIPv4 {
            writeUDPChecksumIPv6(out, layout: layout, sa: sa)
        }
        var verdict = PacketVerdict.forwarded(frames: 1)
        if nextHopMAC != nil {
            sink.commitFrame(offset: 0, length: layout.frameLength)
        } else {
            verdict = holdFrame(
                UnsafeRawBufferPointer(out.slice(0, layout.frameLength)), nextHop: nextHop,
                on: forwarding.outside, sink: sink, reserved: out)
            if case .dropped = verdict { return verdict }
        }

        // Counters and the debug line, for a held packet too: it is encapsulated already.
        let row = state.counters.row(worker: worker)
        row.add(.encaps)
        row.add(.encrypt)
        if transform.icvLength > 0 { row.add(.digest) }
        row.add(.bytesOut, UInt64(innerLength))
        if let sgt {
            row.add(.tagged)
            reportDebug(.inserted, sgt: sgt.value, source: source)
        } else {
            row.add(.notTagged)
        }
        return verdict
    }

    @inline(__always)
    func writeOuterHeaders(
        _ out: UnsafeMutableRawBufferPointer, layout: OutboundLayout,
        sa: SAPlan, trafficClass: UInt8, dontFragment: Bool
    ) {
        let ipOffset = Ethernet.headerSize
        let transportProtocol =
            sa.udpEncapsulation == nil ? IPProtocolNumber.esp : IPProtocolNumber.udp
        if sa.remoteAddress.isIPv4 {
            IPv4.writeHeader(
                out, at: ipOffset, totalLength: layout.ipLength,
                ipProtocol: transportProtocol, source: sa.localAddress,
                destination: sa.remoteAddress, identification: nextIdentification,
                tos: trafficClass, dontFragment: dontFragment, fixedSum: sa.outerIPv4Sum)
            nextIdentification &+= 1
        } else {
            IPv6.writeHeader(
                out, at: ipOffset, payloadLength: layout.ipLength - IPv6.headerSize,
                nextHeader: transportProtocol, source: sa.localAddress,
                destination: sa.remoteAddress, trafficClass: trafficClass)
        }
        if let encapsulation = sa.udpEncapsulation {
            // RFC 3948 §2.1: the IPv4 UDP checksum is sent as zero.
            let udpOffset = ipOffset + layout.outerIPHeaderSize
            out.writeUInt16(encapsulation.localPort, at: udpOffset)
            out.writeUInt16(encapsulation.remotePort, at: udpOffset + 2)
            out.writeUInt16(
                UInt16(UDP.headerSize + layout.espLength), at: udpOffset + UDP.lengthOffset)
            out.writeUInt16(0, at: udpOffset + UDP.checksumOffset)
        }
    }

    /// IPv6 forbids a zero UDP checksum outside the cases of RFC 6935, so compute it.
    func writeUDPChecksumIPv6(
        _ out: UnsafeMutableRawBufferPointer, layout: OutboundLayout,
        sa: SAPlan
    ) {
        let udpOffset = Ethernet.headerSize + layout.outerIPHeaderSize
        let udpLength = UDP.headerSize + layout.espLength
        let pseudo = InternetChecksum.pseudoHeaderSum(
            source: sa.localAddress, destination: sa.remoteAddress,
            ipProtocol: IPProtocolNumber.udp,
            length: udpLength)
        let sum = InternetChecksum.sum(
            UnsafeRawBufferPointer(out.slice(udpOffset, udpLength)),
            initial: pseudo)
        let checksum = InternetChecksum.finish(sum)
        out.writeUInt16(checksum == 0 ? 0xFFFF : checksum, at: udpOffset + UDP.checksumOffset)
    }

    /// Reads the IPv4 TOS or IPv6 Traffic Class byte, which is copied to the outer header
    /// (RFC 4301 §5.1.2).
    @inline(__always)
    private func readTrafficClass(_ packet: UnsafeRawBufferPointer) -> UInt8 {
        guard packet.count >= 2 else { return 0 }
        if packet[0] >> 4 == 4 { return packet[1] }
        return UInt8(truncatingIfNeeded: packet.readUInt16(at: 0) >> 4)
    }

    /// Multicast, broadcast and link-local destinations never leave the link.
    func isLinkScope(_ address: IPAddress) -> Bool {
        switch address {
        case .v4(let value):
            return value >> 28 == 0xE || value == 0xFFFF_FFFF || value >> 16 == 0xA9FE
        case .v6(let high, _):
            return high >> 56 == 0xFF || high >> 54 == 0x3FA
        }
    }
}

/// Builds the ESP header and trailer around a payload already in place, then encrypts.
enum ESPSeal {
    /// `esp` spans the ESP header to the end of the ICV; the payload sits after the IV.
    /// Returns false when the cipher or MAC failed. Transparent, so that an AEAD packet is
    /// sealed without a call of its own. CBC and NULL encryption go out of line.
    @_transparent
    static func seal(
        _ esp: UnsafeMutableRawBufferPointer, transform: ESPTransform, spi: UInt32,
        sequence: UInt64, payloadLength: Int, nextHeader: UInt8
    ) -> Bool {
        // Only the low 32 bits travel; with ESN the high 32 bits enter the ICV alone.
        esp.writeUInt32(spi, at: ESPLayout.spiOffset)
        esp.writeUInt32(UInt32(truncatingIfNeeded: sequence), at: ESPLayout.sequenceOffset)
        // Offsets and lengths within one frame use wrapping arithmetic, as in `OutboundLayout`.
        let ivOffset = ESPLayout.headerSize
        let bodyOffset = ivOffset &+ transform.ivLength
        let padded = transform.paddedLength(payloadLength)
        let padLength = padded &- payloadLength &- ESPLayout.trailerSize

        // Padding 1, 2, 3, ... (RFC 4303 §2.4), Pad Length and Next Header. Up to 8 padding
        // bytes take one 8-byte store, whose excess lands on the trailer and ICV written later.
        let paddingOffset = bodyOffset &+ payloadLength
        if padLength <= 8 && paddingOffset &+ 8 <= esp.count {
            esp.storeBytes(
                of: UInt64(0x0807_0605_0403_0201).littleEndian, toByteOffset: paddingOffset,
                as: UInt64.self)
        } else {
            var index = 0
            while index < padLength {
                esp[paddingOffset &+ index] = UInt8(truncatingIfNeeded: index &+ 1)
                index &+= 1
            }
        }
        esp[bodyOffset &+ padded &- 2] = UInt8(padLength)
        esp[bodyOffset &+ padded &- 1] = nextHeader

        // AES-GCM and ChaCha20-Poly1305 straight on their OpenSSL contexts. The sequence number
        // is unique under one key, as RFC 4106 §3.1 and RFC 7634 §2 require of the IV.
        if let aead = transform.aead, let base = esp.baseAddress {
            esp.writeUInt64(sequence, at: ivOffset)
            return transform.withAAD(esp: UnsafeRawBufferPointer(esp), sequence: sequence) { aad in
                aead.seal(
                    explicitIV: base + ivOffset, aad: aad.baseAddress!, aadLength: aad.count,
                    data: base + bodyOffset, dataLength: padded, tag: base + bodyOffset + padded)
            }
        }
        return sealWithoutPacketCipher(
            esp, transform: transform, sequence: sequence, bodyOffset: bodyOffset,
            padded: padded)
    }

    /// Encrypts and authenticates `esp` for a transform without an `AEADPacketCipher` (CBC or
    /// NULL with HMAC). `padded` is the length of the payload, padding and trailer.
    @inline(never)
    private static func sealWithoutPacketCipher(
        _ esp: UnsafeMutableRawBufferPointer, transform: ESPTransform, sequence: UInt64,
        bodyOffset: Int, padded: Int
    ) -> Bool {
        let ivOffset = ESPLayout.headerSize
        let iv = esp.slice(ivOffset, transform.ivLength)
        let body = esp.slice(bodyOffset, padded)
        let icv = esp.slice(bodyOffset + padded, transform.icvLength)
        do {
            switch transform.cipher {
            case .cbc(let cipher):
                // CBC needs an unpredictable IV (RFC 3602 §3).
                secureRandomBytes(into: iv)
                try cipher.encrypt(iv: UnsafeRawBufferPointer(iv), data: body)
            case .aead(let cipher):
                // The sequence number is unique under one key, as RFC 4106 §3.1 and
                // RFC 7634 §2 require of the IV.
                iv.writeUInt64(sequence, at: 0)
                try transform.withAAD(esp: UnsafeRawBufferPointer(esp), sequence: sequence) {
                    aad in
                    try cipher.seal(
                        explicitIV: UnsafeRawBufferPointer(iv), aad: aad, data: body, tag: icv)
                }
                return true
            case .null:
                break
            }
        } catch {
            return false
        }
        if let mac = transform.mac {
            transform.authenticate(
                UnsafeRawBufferPointer(esp.slice(0, bodyOffset + padded)), sequence: sequence,
                mac: mac)
            mac.finalize(into: icv)
        }
        return true
    }
}
