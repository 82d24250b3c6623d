// Inbound: an ESP frame from the outside interface (ESP directly in IP, or
// ESP-in-UDP on port 4500) becomes a clear frame on the inside interface.
// Order of checks, as RFC 4303 §3.4 sets it: SA by SPI, replay window, ICV
// (in constant time, before any decryption), decryption, padding, then the
// CMD when the Next Header announces one.

import TaglineCore
import TaglineCrypto

/// Position of the ESP packet in a received frame.
struct ESPLocation {
    var outerSource: IPAddress
    var outerDestination: IPAddress
    /// Offset of the ESP header in the frame.
    var offset: Int
    /// ESP header to the end of the ICV.
    var length: Int
}

/// Result of walking the outer headers of a frame from the outside interface.
enum OuterParse {
    case esp(ESPLocation)
    /// An outer fragment of an ESP or UDP datagram, to be reassembled first.
    case fragment(FragmentInfo)
    case notESP
    case invalid(DropReason)
}

extension Pipeline {
    /// Processes one frame received on the outside interface. Clear packets go to `sink`, the
    /// inside interface. An ICMP error for a decrypted packet too big for the inside link goes
    /// back through the tunnel to `replySink`, the outside interface, when one is given.
    public func processOutside<Sink: FrameSink, ReplySink: FrameSink>(
        _ frame: UnsafeRawBufferPointer, sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        processOutside(frame, tables: context.currentTables(), sink: sink, replySink: replySink)
    }

    /// `processOutside` without ICMP errors back through the tunnel.
    public func processOutside<Sink: FrameSink>(_ frame: UnsafeRawBufferPointer, sink: Sink)
        -> PacketVerdict
    {
        processOutside(frame, tables: context.currentTables(), sink: sink, replySink: nil as Sink?)
    }

    /// `processOutside` with the tables the caller read at the start of its burst.
    public func processOutside<Sink: FrameSink, ReplySink: FrameSink>(
        _ frame: UnsafeRawBufferPointer, tables: PacketTables, sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        let forwarding = tables.forwarding
        let packet: UnsafeRawBufferPointer
        let isIPv4: Bool
        switch ethernetStep(frame, interface: forwarding.outside, forwarding: forwarding) {
        case .routed(let ipPacket, let ipv4):
            packet = ipPacket
            isIPv4 = ipv4
        case .passed:
            return .passed
        case .dropped(let reason):
            return drop(reason)
        }

        // Outer headers down to ESP, through reassembly when the packet is a fragment.
        let location: ESPLocation
        switch Pipeline.locateESP(packet, isIPv4: isIPv4) {
        case .notESP:
            return receivePacketTooBig(packet, isIPv4: isIPv4, forwarding: forwarding) ?? .passed
        case .invalid(let reason): return drop(reason)
        case .esp(let found): location = found
        case .fragment(let fragment):
            guard forwarding.localAddresses.contains(fragment.key.destination) else {
                return .passed
            }
            return reassemble(
                fragment, packet: packet, tables: tables, sink: sink, replySink: replySink)
        }
        guard isLocalAddress(location.outerDestination, forwarding: forwarding) else {
            return .passed
        }
        let esp = frame.slice(Ethernet.headerSize + location.offset, location.length)
        return decapsulate(
            esp, location: location, tables: tables, sink: sink, replySink: replySink)
    }

    /// Adds an outer fragment to the worker's reassembler and decapsulates the datagram once
    /// it is complete.
    private func reassemble<Sink: FrameSink, ReplySink: FrameSink>(
        _ fragment: FragmentInfo, packet: UnsafeRawBufferPointer, tables: PacketTables,
        sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        let data = packet.slice(fragment.dataOffset, fragment.dataLength)
        let outcome = reassembler.add(fragment, data: data, now: monotonicNanoseconds())
        let discarded = reassembler.takeDiscarded()
        for _ in 0..<discarded.timedOut { drops.increment(.reassemblyTimeout) }
        for _ in 0..<discarded.evicted { drops.increment(.reassemblyFailed) }
        switch outcome {
        case .incomplete:
            return .consumed
        case .invalid:
            return drop(.reassemblyFailed)
        case .complete(let payload):
            return payload.withUnsafeBytes { buffer in
                let key = fragment.key
                switch Pipeline.locateTransport(
                    key.ipProtocol, in: buffer, offset: 0, end: buffer.count, source: key.source,
                    destination: key.destination)
                {
                case .esp(let location):
                    return decapsulate(
                        buffer.slice(location.offset, location.length), location: location,
                        tables: tables, sink: sink, replySink: replySink)
                case .invalid(let reason):
                    return drop(reason)
                case .notESP, .fragment:
                    // IKE or other UDP: the kernel reassembles its own copy.
                    return .consumed
                }
            }
        }
    }

    /// Walks the outer IPv4 or IPv6 header (and UDP on port 4500) to the ESP header.
    @inline(__always)
    static func locateESP(_ packet: UnsafeRawBufferPointer, isIPv4: Bool) -> OuterParse {
        var nextHeader: UInt8
        var offset: Int
        let end: Int
        let source: IPAddress
        let destination: IPAddress
        if isIPv4 {
            guard packet.count >= IPv4.minimumHeaderSize, packet[0] >> 4 == 4 else {
                return .invalid(.invalidIPHeader)
            }
            offset = Int(packet[0] & 0x0F) * 4
            end = Int(packet.readUInt16(at: IPv4.totalLengthOffset))
            guard offset >= IPv4.minimumHeaderSize, end >= offset, end <= packet.count else {
                return .invalid(.invalidIPHeader)
            }
            nextHeader = packet[IPv4.protocolOffset]
            source = .v4(packet.readUInt32(at: IPv4.sourceOffset))
            destination = .v4(packet.readUInt32(at: IPv4.destinationOffset))
            let flags = packet.readUInt16(at: IPv4.flagsOffset)
            if flags & (IPv4.moreFragments | IPv4.fragmentOffsetMask) != 0 {
                guard nextHeader == IPProtocolNumber.esp || nextHeader == IPProtocolNumber.udp
                else { return .notESP }
                let key = FragmentKey(
                    source: source, destination: destination,
                    identification: UInt32(packet.readUInt16(at: IPv4.identificationOffset)),
                    ipProtocol: nextHeader)
                return .fragment(
                    FragmentInfo(
                        key: key, offset: Int(flags & IPv4.fragmentOffsetMask) * 8,
                        more: flags & IPv4.moreFragments != 0, dataOffset: offset,
                        dataLength: end - offset))
            }
        } else {
            guard packet.count >= IPv6.headerSize, packet[0] >> 4 == 6 else {
                return .invalid(.invalidIPHeader)
            }
            end = IPv6.headerSize + Int(packet.readUInt16(at: IPv6.payloadLengthOffset))
            guard end <= packet.count else { return .invalid(.invalidIPHeader) }
            nextHeader = packet[IPv6.nextHeaderOffset]
            offset = IPv6.headerSize
            source = packet.readAddress(at: IPv6.sourceOffset, isIPv4: false)
            destination = packet.readAddress(at: IPv6.destinationOffset, isIPv4: false)

            // Extension headers until ESP or UDP ends the walk (RFC 8200 §4).
            var walked = 0
            while nextHeader == IPv6.hopByHop || nextHeader == IPv6.routing
                || nextHeader == IPv6.destinationOptions || nextHeader == IPv6.fragment
            {
                walked += 1
                guard walked <= IPv6.maximumExtensionHeaders, offset + 8 <= end else {
                    return .invalid(.invalidExtensionHeader)
                }
                if nextHeader == IPv6.fragment {
                    // Fragment header: Next Header, reserved, offset and M flag, identification.
                    let fragmentProtocol = packet[offset]
                    guard
                        fragmentProtocol == IPProtocolNumber.esp
                            || fragmentProtocol == IPProtocolNumber.udp
                    else { return .notESP }
                    let offsetAndFlag = packet.readUInt16(at: offset + 2)
                    let key = FragmentKey(
                        source: source, destination: destination,
                        identification: packet.readUInt32(at: offset + 4),
                        ipProtocol: fragmentProtocol)
                    return .fragment(
                        FragmentInfo(
                            key: key, offset: Int(offsetAndFlag >> 3) * 8,
                            more: offsetAndFlag & 1 != 0, dataOffset: offset + 8,
                            dataLength: end - offset - 8))
                }
                let length = (Int(packet[offset + 1]) + 1) * 8
                nextHeader = packet[offset]
                offset += length
                guard offset <= end else { return .invalid(.invalidExtensionHeader) }
            }
        }

        return locateTransport(
            nextHeader, in: packet, offset: offset, end: end, source: source,
            destination: destination)
    }

    /// Finds ESP directly at `offset`, or after a UDP header to port 4500, in `packet`.
    static func locateTransport(
        _ nextHeader: UInt8, in packet: UnsafeRawBufferPointer, offset: Int, end: Int,
        source: IPAddress, destination: IPAddress
    ) -> OuterParse {
        switch nextHeader {
        case IPProtocolNumber.esp:
            guard end - offset >= ESPLayout.headerSize else { return .invalid(.runt) }
            return .esp(
                ESPLocation(
                    outerSource: source, outerDestination: destination,
                    offset: offset, length: end - offset))
        case IPProtocolNumber.udp:
            guard end - offset >= UDP.headerSize else { return .invalid(.runt) }
            guard packet.readUInt16(at: offset + 2) == UDP.natTraversalPort else { return .notESP }
            let udpLength = Int(packet.readUInt16(at: offset + UDP.lengthOffset))
            guard udpLength >= UDP.headerSize, offset + udpLength <= end else {
                return .invalid(.invalidIPHeader)
            }
            let payloadOffset = offset + UDP.headerSize
            let payloadLength = udpLength - UDP.headerSize
            // A NAT keepalive (one 0xFF byte) or an IKE message (non-ESP marker of four zero
            // bytes, RFC 3948 §2.2) belongs to the negotiator.
            guard payloadLength > UDP.nonESPMarkerSize,
                packet.readUInt32(at: payloadOffset) != 0
            else { return .notESP }
            guard payloadLength >= ESPLayout.headerSize else { return .invalid(.runt) }
            return .esp(
                ESPLocation(
                    outerSource: source, outerDestination: destination,
                    offset: payloadOffset, length: payloadLength))
        default:
            return .notESP
        }
    }

    /// Verifies, decrypts and forwards one ESP packet.
    func decapsulate<Sink: FrameSink, ReplySink: FrameSink>(
        _ esp: UnsafeRawBufferPointer, location: ESPLocation, tables: PacketTables,
        sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        // SA by SPI. The SA must belong to the address the packet was sent to. The table keeps
        // the SA and its transforms alive for the whole call, so both are borrowed without a
        // retain and release per packet.
        let spi = esp.readUInt32(at: ESPLayout.spiOffset)
        guard let found = tables.sa.inboundIndex.unretainedState(spi: spi) else {
            return drop(.noSA)
        }
        return found._withUnsafeGuaranteedRef { state in
            guard state.plan.localAddress == location.outerDestination else {
                return drop(.noSA)
            }
            return state.unretainedInboundTransforms[worker]._withUnsafeGuaranteedRef {
                transform in
                decapsulate(
                    esp, state: state, transform: transform, tables: tables, sink: sink,
                    replySink: replySink)
            }
        }
    }

    /// Verifies, decrypts and forwards one ESP packet of `state`'s inbound SA.
    @inline(__always)
    private func decapsulate<Sink: FrameSink, ReplySink: FrameSink>(
        _ esp: UnsafeRawBufferPointer, state: SAState, transform: ESPTransform,
        tables: PacketTables, sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        let forwarding = tables.forwarding
        let saTable = tables.sa
        let row = state.counters.row(worker: worker)
        // The lengths are at most a frame's, so wrapping arithmetic cannot overflow. A negative
        // body length fails the guard below.
        let ivOffset = ESPLayout.headerSize
        let bodyOffset = ivOffset &+ transform.ivLength
        let bodyLength = esp.count &- bodyOffset &- transform.icvLength
        guard bodyLength >= ESPLayout.trailerSize, bodyLength & transform.blockMask == 0 else {
            state.counters.add(.invalidLength)
            return drop(.invalidCiphertextLength)
        }

        // Replay window, before spending any cryptography on the packet. With ESN the window
        // also supplies the high 32 bits, which the ICV then confirms.
        var (sequence, replayVerdict) = state.checkReplay(
            low: esp.readUInt32(at: ESPLayout.sequenceOffset))
        guard replayVerdict == .accept else {
            state.counters.add(.replayFailed)
            return drop(.replay)
        }

        // ICV in constant time, before decrypting (the AEAD checks its tag while opening).
        let icv = esp.slice(bodyOffset + bodyLength, transform.icvLength)
        if let mac = transform.mac {
            let authenticated = esp.slice(0, bodyOffset + bodyLength)
            if !verifyICV(
                authenticated, sequence: sequence, icv: icv, transform: transform, mac: mac)
            {
                switch retryICV(
                    authenticated, sequence: sequence, icv: icv, state: state,
                    transform: transform, mac: mac)
                {
                case .verified(let higher): sequence = higher
                case .failed(let reason):
                    state.counters.add(.verifyFailed)
                    return drop(reason)
                }
            }
        }

        // Decrypt into the TX frame: the only copy of the packet. An AEAD decrypts straight from
        // the received frame, and the other ciphers decrypt a copy in place.
        guard let out = sink.reserveFrame() else { return drop(.txRingFull) }
        let plaintextOffset = Ethernet.headerSize
        guard plaintextOffset + bodyLength <= out.count else { return drop(.tooBig) }
        let plaintext = out.slice(plaintextOffset, bodyLength)
        let iv = esp.slice(ivOffset, transform.ivLength)
        if let aead = transform.aead, let base = esp.baseAddress,
            let plaintextBase = plaintext.baseAddress
        {
            let outcome = transform.withAAD(esp: esp, sequence: sequence) { aad in
                aead.open(
                    explicitIV: base + ivOffset, aad: aad.baseAddress!, aadLength: aad.count,
                    input: base + bodyOffset, output: plaintextBase, dataLength: bodyLength,
                    tag: base + bodyOffset + bodyLength)
            }
            switch outcome {
            case .verified:
                break
            case .tagMismatch:
                switch retryPacketOpen(
                    esp, sequence: sequence, state: state, transform: transform, aead: aead,
                    plaintext: plaintextBase, bodyOffset: bodyOffset, bodyLength: bodyLength)
                {
                case .verified(let higher): sequence = higher
                case .failed(let reason):
                    state.counters.add(.verifyFailed)
                    return drop(reason)
                }
            case .failed:
                state.counters.add(.internalErrorsReceive)
                return drop(.cryptoError)
            }
        } else {
            out.copyBytes(from: esp.slice(bodyOffset, bodyLength), at: plaintextOffset)
            do {
                switch transform.cipher {
                case .cbc(let cipher):
                    try cipher.decrypt(iv: iv, data: plaintext)
                case .aead(let cipher):
                    let opened = try transform.withAAD(esp: esp, sequence: sequence) { aad in
                        try cipher.open(explicitIV: iv, aad: aad, data: plaintext, tag: icv)
                    }
                    if !opened {
                        switch retryOpen(
                            esp, sequence: sequence, state: state, transform: transform,
                            cipher: cipher, ciphertextOffset: bodyOffset, plaintext: plaintext,
                            iv: iv, icv: icv)
                        {
                        case .verified(let higher): sequence = higher
                        case .failed(let reason):
                            state.counters.add(.verifyFailed)
                            return drop(reason)
                        }
                    }
                case .null:
                    break
                }
            } catch {
                state.counters.add(.internalErrorsReceive)
                return drop(.cryptoError)
            }
        }
        guard state.recordReplay(sequence) == .accept else {
            state.counters.add(.replayFailed)
            return drop(.replay)
        }
        row.add(.decaps)
        row.add(.decrypt)
        if transform.icvLength > 0 { row.add(.verify) }

        // Trailer: Next Header, Pad Length and the monotonic padding bytes.
        let nextHeader = plaintext[bodyLength - 1]
        let padLength = Int(plaintext[bodyLength - 2])
        guard padLength + ESPLayout.trailerSize <= bodyLength else {
            state.counters.add(.decapsFailed)
            return drop(.invalidPadding)
        }
        let payloadLength = bodyLength - ESPLayout.trailerSize - padLength
        var padIndex = 0
        while padIndex < padLength {
            guard plaintext[payloadLength + padIndex] == UInt8(truncatingIfNeeded: padIndex + 1)
            else {
                state.counters.add(.decapsFailed)
                return drop(.invalidPadding)
            }
            padIndex += 1
        }
        let payload = UnsafeRawBufferPointer(plaintext.slice(0, payloadLength))
        return deliverPayload(
            payload, nextHeader: nextHeader, state: state, row: row, saTable: saTable,
            out: out, payloadOffset: plaintextOffset, forwarding: forwarding,
            sink: sink, replySink: replySink)
    }

    /// Handles the CMD, checks the inner packet against the SA and sends it inside.
    private func deliverPayload<Sink: FrameSink, ReplySink: FrameSink>(
        _ payload: UnsafeRawBufferPointer, nextHeader: UInt8, state: SAState, row: SACounterRow,
        saTable: SATable,
        out: UnsafeMutableRawBufferPointer, payloadOffset: Int, forwarding: ForwardingTable,
        sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        var innerStart = 0
        var cmd: CMDHeader?
        switch nextHeader {
        case context.cmdNextHeader:
            if state.plan.taggingNegotiated {
                do {
                    cmd = try CMDHeader.parse(payload)
                } catch {
                    state.counters.add(.decapsFailed)
                    return drop(error.dropReason)
                }
                innerStart = cmd!.headerLength
            } else {
                // Tagging not negotiated: skip the CMD by its length field, read nothing else.
                guard payload.count >= CMDHeader.size else { return drop(.cmdTruncated) }
                let skip = max(1, Int(payload[CMDHeader.lengthOffset])) * CMDHeader.unitSize
                guard skip <= payload.count else { return drop(.cmdTruncated) }
                innerStart = skip
            }
        case ESPLayout.nextHeaderIPv4, ESPLayout.nextHeaderIPv6:
            break
        case ESPLayout.nextHeaderNone:
            return .consumed
        default:
            state.counters.add(.decapsFailed)
            return drop(.unknownNextHeader)
        }

        // The inner packet must match its announced family and the SA's selectors.
        let inner = payload.slice(innerStart, payload.count - innerStart)
        guard let info = IPPacketInfo.parse(inner) else { return drop(.invalidInnerPacket) }
        let expectsIPv4: Bool
        if let cmd {
            expectsIPv4 = cmd.innerEtherType == CMDHeader.etherTypeIPv4
        } else if nextHeader == context.cmdNextHeader {
            expectsIPv4 = info.isIPv4
        } else {
            expectsIPv4 = nextHeader == ESPLayout.nextHeaderIPv4
        }
        guard info.isIPv4 == expectsIPv4 else { return drop(.invalidInnerPacket) }
        guard
            saTable.inboundSelectorsMatch(
                state, source: info.source, destination: info.destination,
                ipProtocol: info.ipProtocol,
                ports: info.ports)
        else { return drop(inboundMismatchReason(saTable, state, packet: inner)) }

        // Tag accounting: extracted only on an SA that negotiated tagging.
        if let cmd {
            row.add(.untagged)
            if let sgt = cmd.sgt { reportDebug(.extracted, sgt: sgt.value, source: info.source) }
        } else {
            row.add(.notUntagged)
        }

        // Next hop on the inside interface, for a source that names one host.
        guard let (nextHop, mac) = inboundNextHop(to: info.destination, forwarding: forwarding)
        else { return drop(.noRoute) }
        guard ICMPErrorKind.namesOneHost(sourceOf: inner, isIPv4: expectsIPv4) else {
            return drop(.martianSource)
        }

        // Forwarding out of the tunnel costs one TTL. The expired packet's source is across
        // the tunnel, so no Time Exceeded goes back.
        // Offsets within the reserved frame cannot overflow, so they use wrapping arithmetic.
        let innerOut = out.slice(payloadOffset &+ innerStart, info.length)
        guard HopLimit.read(UnsafeRawBufferPointer(innerOut), isIPv4: info.isIPv4) > 1 else {
            return drop(.ttlExpired)
        }
        HopLimit.decrement(innerOut, isIPv4: info.isIPv4)
        if info.length > forwarding.inside.mtu {
            let verdict = deliverFragments(
                UnsafeRawBufferPointer(innerOut), nextHop: nextHop, saTable: saTable,
                forwarding: forwarding, sink: sink, replySink: replySink)
            if case .dropped = verdict { return verdict }
            row.add(.bytesIn, UInt64(info.length))
            return verdict
        }

        // The Ethernet header goes right before the packet. Without the next hop's address the
        // frame is held, and the solicitation reuses the reserved frame once it is copied.
        let frameOffset = payloadOffset &+ innerStart &- Ethernet.headerSize
        let frameLength = Ethernet.headerSize &+ info.length
        Ethernet.writeHeader(
            out, at: frameOffset, destination: mac ?? MACAddress(0), source: forwarding.inside.mac,
            type: info.isIPv4 ? Ethernet.typeIPv4 : Ethernet.typeIPv6)
        var verdict = PacketVerdict.forwarded(frames: 1)
        if mac != nil {
            sink.commitFrame(offset: frameOffset, length: frameLength)
        } else {
            verdict = holdFrame(
                UnsafeRawBufferPointer(out.slice(frameOffset, frameLength)), nextHop: nextHop,
                on: forwarding.inside, sink: sink, reserved: out)
            if case .dropped = verdict { return verdict }
        }
        row.add(.bytesIn, UInt64(info.length))
        return verdict
    }

    /// Computes the HMAC over `authenticated` (and with ESN the high 32 bits of `sequence`)
    /// and compares it with `icv` in constant time.
    func verifyICV(
        _ authenticated: UnsafeRawBufferPointer, sequence: UInt64, icv: UnsafeRawBufferPointer,
        transform: ESPTransform, mac: HMACContext
    ) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: ESPLayout.maximumICVLength, alignment: 8) {
            computed in
            transform.authenticate(authenticated, sequence: sequence, mac: mac)
            let expected = UnsafeMutableRawBufferPointer(rebasing: computed[0..<icv.count])
            mac.finalize(into: expected)
            var difference: UInt8 = 0
            for index in 0..<icv.count { difference |= expected[index] ^ icv[index] }
            return difference == 0
        }
    }
}
