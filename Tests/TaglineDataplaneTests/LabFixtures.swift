// Hand-made SAs, interfaces and packets shaped like the lab topology:
// host A 192.0.2.2 - gw1 (192.0.2.1 | 198.51.100.1) - gw2 (198.51.100.2 |
// 203.0.113.1) - host B 203.0.113.2, with 2001:db8:: addresses for IPv6.

import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Collects frames in memory in place of a TX ring.
final class MemorySink: FrameSink {
    let frameSize: Int
    let capacity: Int
    private let storage: UnsafeMutableRawBufferPointer
    private(set) var frames: [[UInt8]] = []

    init(frameSize: Int = 4096, capacity: Int = 64) {
        self.frameSize = frameSize
        self.capacity = capacity
        storage = .allocate(byteCount: frameSize, alignment: 16)
    }

    deinit { storage.deallocate() }

    func reserveFrame() -> UnsafeMutableRawBufferPointer? {
        guard frames.count < capacity else { return nil }
        storage.initializeMemory(as: UInt8.self, repeating: 0xEE)
        return storage
    }

    func commitFrame(offset: Int, length: Int) {
        frames.append(Array(storage[offset..<(offset + length)]))
    }

    func removeAll() { frames.removeAll() }
}

enum Lab {
    static let hostA = IPAddress("192.0.2.2")!
    static let gw1Inside = IPAddress("192.0.2.1")!
    static let gw1Outside = IPAddress("198.51.100.1")!
    static let gw2Outside = IPAddress("198.51.100.2")!
    static let gw2Inside = IPAddress("203.0.113.1")!
    static let hostB = IPAddress("203.0.113.2")!
    static let gw1Outside6 = IPAddress("2001:db8:100::1")!
    static let gw2Outside6 = IPAddress("2001:db8:100::2")!
    static let hostA6 = IPAddress("2001:db8:a::2")!
    static let hostB6 = IPAddress("2001:db8:b::2")!

    static let hostAMAC = MACAddress(0x0200_0000_0a02)
    static let gw1InsideMAC = MACAddress(0x0200_0000_0a01)
    static let gw1OutsideMAC = MACAddress(0x0200_0000_1001)
    static let gw2OutsideMAC = MACAddress(0x0200_0000_1002)
    static let gw2InsideMAC = MACAddress(0x0200_0000_0b01)
    static let hostBMAC = MACAddress(0x0200_0000_0b02)

    static let spiAtGW1: UInt32 = 0x1000_0001
    static let spiAtGW2: UInt32 = 0x2000_0002

    /// Deterministic key bytes: `seed`, `seed + 1`, ...
    static func key(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { seed &+ UInt8(truncatingIfNeeded: $0) }
    }

    /// Returns the same SA pair as gw1 and as gw2 store it.
    static func saPair(
        encryption: EncryptionAlgorithm = .aesCBC128,
        integrity: IntegrityAlgorithm? = .hmacSHA1_96, tagging: Bool = true,
        udp: Bool = false, outerIPv6: Bool = false
    ) -> (gw1: ChildSA, gw2: ChildSA) {
        let integrityLength = integrity?.keyLength ?? 0
        let gw1ToGW2 = ChildSAKeys(
            encryptionKey: key(encryption.keyMaterialLength, seed: 0x10),
            integrityKey: key(integrityLength, seed: 0x40))
        let gw2ToGW1 = ChildSAKeys(
            encryptionKey: key(encryption.keyMaterialLength, seed: 0x70),
            integrityKey: key(integrityLength, seed: 0xA0))
        let sideA = [
            TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!),
            TrafficSelector(prefix: IPPrefix("2001:db8:a::/48")!),
        ]
        let sideB = [
            TrafficSelector(prefix: IPPrefix("203.0.113.0/24")!),
            TrafficSelector(prefix: IPPrefix("2001:db8:b::/48")!),
        ]
        let encapsulation = udp ? UDPEncapsulation(localPort: 4500, remotePort: 4500) : nil
        func make(
            inbound: UInt32, outbound: UInt32, local: IPAddress, remote: IPAddress,
            localSelectors: [TrafficSelector], remoteSelectors: [TrafficSelector],
            inKeys: ChildSAKeys, outKeys: ChildSAKeys
        ) -> ChildSA {
            ChildSA(
                inboundSPI: inbound, outboundSPI: outbound,
                ikeSAName: "0102030405060708-1112131415161718",
                localAddress: local, remoteAddress: remote, udpEncapsulation: encapsulation,
                localSelectors: localSelectors, remoteSelectors: remoteSelectors,
                encryption: encryption, integrity: integrity, inboundKeys: inKeys,
                outboundKeys: outKeys, taggingNegotiated: tagging, cryptoMapName: "cmap",
                interfaceName: "outside", transformDescription: "test", installedAt: 0)
        }
        let gw1 = make(
            inbound: spiAtGW1, outbound: spiAtGW2,
            local: outerIPv6 ? gw1Outside6 : gw1Outside,
            remote: outerIPv6 ? gw2Outside6 : gw2Outside, localSelectors: sideA,
            remoteSelectors: sideB, inKeys: gw2ToGW1, outKeys: gw1ToGW2)
        let gw2 = make(
            inbound: spiAtGW2, outbound: spiAtGW1,
            local: outerIPv6 ? gw2Outside6 : gw2Outside,
            remote: outerIPv6 ? gw1Outside6 : gw1Outside, localSelectors: sideB,
            remoteSelectors: sideA, inKeys: gw1ToGW2, outKeys: gw2ToGW1)
        return (gw1, gw2)
    }

    /// Interfaces 1 (inside) and 2 (outside) of a gateway, with connected routes and
    /// every neighbour already resolved.
    static func forwarding(
        gw1 isGW1: Bool, neighbours: Bool = true, insideMTU: Int = 1500
    ) -> ForwardingTable {
        let inside = DataplaneInterface(
            name: "inside", index: 1, mac: isGW1 ? gw1InsideMAC : gw2InsideMAC, mtu: insideMTU,
            addresses: isGW1
                ? [gw1Inside, IPAddress("2001:db8:a::1")!]
                : [gw2Inside, IPAddress("2001:db8:b::1")!])
        let outside = DataplaneInterface(
            name: "outside", index: 2, mac: isGW1 ? gw1OutsideMAC : gw2OutsideMAC, mtu: 1500,
            addresses: isGW1 ? [gw1Outside, gw1Outside6] : [gw2Outside, gw2Outside6])
        var table = [NeighbourKey: MACAddress]()
        if neighbours {
            let host = isGW1 ? hostA : hostB
            let host6 = isGW1 ? hostA6 : hostB6
            let hostMAC = isGW1 ? hostAMAC : hostBMAC
            let peerMAC = isGW1 ? gw2OutsideMAC : gw1OutsideMAC
            table[NeighbourKey(interfaceIndex: 1, address: host)] = hostMAC
            table[NeighbourKey(interfaceIndex: 1, address: host6)] = hostMAC
            table[NeighbourKey(interfaceIndex: 2, address: isGW1 ? gw2Outside : gw1Outside)] =
                peerMAC
            table[NeighbourKey(interfaceIndex: 2, address: isGW1 ? gw2Outside6 : gw1Outside6)] =
                peerMAC
        }
        return ForwardingTable.directlyConnected(
            inside: inside,
            insidePrefixes: isGW1
                ? [IPPrefix("192.0.2.0/24")!, IPPrefix("2001:db8:a::/48")!]
                : [IPPrefix("203.0.113.0/24")!, IPPrefix("2001:db8:b::/48")!],
            outside: outside,
            outsidePrefixes: [IPPrefix("198.51.100.0/24")!, IPPrefix("2001:db8:100::/64")!],
            neighbours: table)
    }

    /// Returns the lab SA pair with `encryption`, `integrity` and extended sequence numbers.
    static func esnPair(_ encryption: EncryptionAlgorithm, _ integrity: IntegrityAlgorithm?)
        -> (gw1: ChildSA, gw2: ChildSA)
    {
        var pair = saPair(encryption: encryption, integrity: integrity)
        pair.gw1.extendedSequenceNumbers = true
        pair.gw2.extendedSequenceNumbers = true
        return pair
    }

    /// Encrypts `count` packets from host A through `gw1`, with sequence numbers from `first`.
    static func encryptFromHostA(
        _ count: Int, from first: UInt64, through gw1: Pipeline, state: SAState
    ) -> [[UInt8]] {
        state.sequence.grant(SequenceLease(first: first, count: UInt64(count)))
        let wire = MemorySink(capacity: count)
        let clear = fromHostA(ipv4UDP())
        for _ in 0..<count { _ = gw1.inside(clear, sink: wire) }
        return wire.frames
    }

    /// Creates a gateway's pipeline with `sa` installed, a lease of 1000 sequence numbers and
    /// `bindings` published.
    static func gateway(
        gw1 isGW1: Bool, sa: ChildSA, bindings: [SGTBinding] = [],
        neighbours: Bool = true, insideMTU: Int = 1500
    ) throws -> (Pipeline, SAState) {
        let memory = try MemoryPipeline(
            sa: sa, bindings: bindings,
            forwarding: forwarding(gw1: isGW1, neighbours: neighbours, insideMTU: insideMTU),
            lease: SequenceLease(first: 1, count: 1000), slotCount: 1)
        memory.context.debugEnabled = true
        return (memory.pipeline, memory.state)
    }

    /// Builds an IPv4 UDP packet with a valid header checksum and UDP checksum 0.
    static func ipv4UDP(
        source: IPAddress = hostA, destination: IPAddress = hostB,
        payload: [UInt8] = Array("hello through the tunnel".utf8)
    ) -> [UInt8] {
        let total = 20 + 8 + payload.count
        var packet: [UInt8] = [
            0x45, 0x00, UInt8(total >> 8), UInt8(total & 0xFF),  // version 4, IHL 5, total length
            0x12, 0x34, 0x40, 0x00,  // identification, DF
            0x40, 0x11, 0x00, 0x00,  // TTL 64, protocol UDP, checksum (below)
        ]
        packet += source.bytes + destination.bytes
        packet += [0x30, 0x39, 0x00, 0x35]  // source port 12345, destination port 53
        packet += [UInt8((8 + payload.count) >> 8), UInt8((8 + payload.count) & 0xFF), 0, 0]
        packet += payload
        let checksum = packet.withUnsafeBytes {
            InternetChecksum.finish(
                InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: $0[0..<20])))
        }
        packet[10] = UInt8(checksum >> 8)
        packet[11] = UInt8(checksum & 0xFF)
        return packet
    }

    /// Computes the header checksum of the IPv4 `packet` (a 20-byte header) again, in place.
    static func refreshIPv4Checksum(_ packet: inout [UInt8]) {
        packet[10] = 0
        packet[11] = 0
        let checksum = packet.withUnsafeBytes {
            InternetChecksum.finish(InternetChecksum.sum($0.slice(0, 20)))
        }
        packet[10] = UInt8(checksum >> 8)
        packet[11] = UInt8(checksum & 0xFF)
    }

    /// Returns the IPv4 `packet` with byte 6 (DF, MF and the fragment offset's high bits) zeroed.
    static func withoutDF(_ packet: [UInt8]) -> [UInt8] {
        var out = packet
        out[6] = 0
        refreshIPv4Checksum(&out)
        return out
    }

    /// Wraps `esp` in an IPv4 header (protocol ESP, checksum left 0) and an Ethernet frame
    /// from gw1's outside interface to gw2's.
    static func espFrameToGW2(_ esp: [UInt8]) -> [UInt8] {
        let total = 20 + esp.count
        var outer: [UInt8] = [
            0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 1, 0, 0, 64, 50, 0, 0,
        ]
        outer += gw1Outside.bytes + gw2Outside.bytes
        return ethernet(
            destination: gw2OutsideMAC, source: gw1OutsideMAC, type: 0x0800, outer + esp)
    }

    /// Builds an IPv6 UDP packet. Its UDP checksum stays 0 because nothing on the path checks it.
    static func ipv6UDP(
        source: IPAddress = hostA6, destination: IPAddress = hostB6,
        payload: [UInt8] = Array("hello over IPv6".utf8)
    ) -> [UInt8] {
        let udpLength = 8 + payload.count
        var packet: [UInt8] = [
            0x60, 0, 0, 0, UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 17, 64,
        ]
        packet += source.bytes + destination.bytes
        packet += [0x30, 0x39, 0x00, 0x35, UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0]
        return packet + payload
    }

    /// Returns `packet` as it looks after `hops` routers forwarded it: the IPv4 TTL or IPv6
    /// hop limit lowered and the IPv4 header checksum computed again from scratch.
    static func forwarded(_ packet: [UInt8], hops: Int) -> [UInt8] {
        var out = packet
        if out[0] >> 4 == 4 {
            out[8] -= UInt8(hops)
            out[10] = 0
            out[11] = 0
            let checksum = out.withUnsafeBytes {
                InternetChecksum.finish(
                    InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: $0[0..<20])))
            }
            out[10] = UInt8(checksum >> 8)
            out[11] = UInt8(checksum & 0xFF)
        } else {
            out[7] -= UInt8(hops)
        }
        return out
    }

    static func ethernet(
        destination: MACAddress, source: MACAddress, type: UInt16,
        _ payload: [UInt8]
    ) -> [UInt8] {
        destination.bytes + source.bytes + [UInt8(type >> 8), UInt8(type & 0xFF)] + payload
    }

    /// Wraps `packet` in a frame from host A to gw1's inside interface.
    static func fromHostA(_ packet: [UInt8]) -> [UInt8] {
        let type: UInt16 = packet[0] >> 4 == 4 ? 0x0800 : 0x86DD
        return ethernet(destination: gw1InsideMAC, source: hostAMAC, type: type, packet)
    }
}

extension Pipeline {
    /// Runs `frame` through the inside path with a memory sink.
    func inside(
        _ frame: [UInt8], offload: OffloadHeader = .none, sink: MemorySink,
        replies: MemorySink? = nil
    )
        -> PacketVerdict
    {
        frame.withUnsafeBytes {
            processInside($0, offload: offload, sink: sink, replySink: replies)
        }
    }

    /// Runs `frame` through the outside path. ICMP errors back through the tunnel go to
    /// `replies` when it is given.
    func outside(_ frame: [UInt8], sink: MemorySink, replies: MemorySink? = nil) -> PacketVerdict {
        frame.withUnsafeBytes { processOutside($0, sink: sink, replySink: replies) }
    }
}

/// Builds ESP frames from gw2 to gw1 around any decrypted payload, so tests can send
/// payloads the pipeline itself would never produce.
struct ESPFrameBuilder {
    /// gw2's view of the SA; its outbound keys are gw1's inbound keys.
    let state: SAState

    init(sa: ChildSA) throws {
        state = try SAState(childSA: sa, workerCount: 1)
    }

    /// Builds the frame gw1 receives on its outside interface. `hopByHop` adds an empty IPv6
    /// Hop-by-Hop Options header before ESP or UDP.
    func frame(payload: [UInt8], nextHeader: UInt8, sequence: UInt32, hopByHop: Bool = false)
        -> [UInt8]
    {
        wrap(esp(payload: payload, nextHeader: nextHeader, sequence: sequence), hopByHop: hopByHop)
    }

    /// ESP header to ICV around `payload`, padded and encrypted as the pipeline does it.
    func esp(payload: [UInt8], nextHeader: UInt8, sequence: UInt32) -> [UInt8] {
        let sa = state.childSA
        let transform = state.outboundTransforms[0]
        let layout = OutboundLayout(sa: sa, transform: transform, payloadLength: payload.count)
        var esp = [UInt8](repeating: 0, count: layout.espLength)
        let payloadStart = ESPLayout.headerSize + transform.ivLength
        esp.replaceSubrange(payloadStart..<(payloadStart + payload.count), with: payload)
        let sealed = esp.withUnsafeMutableBytes {
            ESPSeal.seal(
                $0, transform: transform, spi: sa.outboundSPI, sequence: UInt64(sequence),
                payloadLength: payload.count, nextHeader: nextHeader)
        }
        precondition(sealed, "sealing failed")
        return esp
    }

    /// ESP with NULL encryption around `body` taken as payload, padding and trailer
    /// exactly as given, then the ICV.
    func nullESP(body: [UInt8], sequence: UInt32) -> [UInt8] {
        let sa = state.childSA
        let transform = state.outboundTransforms[0]
        precondition(sa.encryption == .null, "raw bodies need NULL encryption")
        var esp: [UInt8] =
            [
                UInt8(sa.outboundSPI >> 24), UInt8((sa.outboundSPI >> 16) & 0xFF),
                UInt8((sa.outboundSPI >> 8) & 0xFF), UInt8(sa.outboundSPI & 0xFF),
                UInt8(sequence >> 24), UInt8((sequence >> 16) & 0xFF),
                UInt8((sequence >> 8) & 0xFF),
                UInt8(sequence & 0xFF),
            ] + body
        transform.mac!.reset()
        esp.withUnsafeBytes { transform.mac!.update($0) }
        var icv = [UInt8](repeating: 0, count: transform.icvLength)
        icv.withUnsafeMutableBytes { transform.mac!.finalize(into: $0) }
        esp += icv
        return esp
    }

    /// Outer IP (and UDP) and Ethernet headers from gw2 to gw1 around `esp`.
    func wrap(_ esp: [UInt8], hopByHop: Bool = false) -> [UInt8] {
        let sa = state.childSA
        var transport = esp
        var ipProtocol: UInt8 = 50
        if let encapsulation = sa.udpEncapsulation {
            let length = 8 + esp.count
            transport =
                [
                    UInt8(encapsulation.localPort >> 8), UInt8(encapsulation.localPort & 0xFF),
                    UInt8(encapsulation.remotePort >> 8), UInt8(encapsulation.remotePort & 0xFF),
                    UInt8(length >> 8), UInt8(length & 0xFF), 0, 0,
                ] + esp
            ipProtocol = 17
        }
        var ip: [UInt8]
        if sa.localAddress.isIPv4 {
            let total = 20 + transport.count
            ip = [
                0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 1, 0, 0, 64, ipProtocol, 0, 0,
            ]
            ip += sa.localAddress.bytes + sa.remoteAddress.bytes
        } else {
            let extensionHeader: [UInt8] = hopByHop ? [ipProtocol, 0, 1, 4, 0, 0, 0, 0] : []
            let payloadLength = extensionHeader.count + transport.count
            ip = [
                0x60, 0, 0, 0, UInt8(payloadLength >> 8), UInt8(payloadLength & 0xFF),
                hopByHop ? 0 : ipProtocol, 64,
            ]
            ip += sa.localAddress.bytes + sa.remoteAddress.bytes + extensionHeader
        }
        let type: UInt16 = sa.localAddress.isIPv4 ? 0x0800 : 0x86DD
        return Lab.ethernet(
            destination: Lab.gw1OutsideMAC, source: Lab.gw2OutsideMAC, type: type,
            ip + transport)
    }
}
