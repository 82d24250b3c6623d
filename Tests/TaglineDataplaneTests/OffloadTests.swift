import CTaglineShim
import TaglineCore
import XCTest

@testable import TaglineDataplane

final class OffloadTests: XCTestCase {
    /// Builds an IPv4 TCP packet from host A to host B with `payload`. The TCP checksum
    /// field contains the folded pseudo-header sum, as a sender using checksum offload
    /// leaves it.
    private func partialTCP(payload: [UInt8], flags: UInt8 = 0x18) -> [UInt8] {
        let total = 20 + 20 + payload.count
        var packet: [UInt8] = [
            0x45, 0x00, UInt8(total >> 8), UInt8(total & 0xFF),  // version 4, IHL 5, length
            0x00, 0x10, 0x40, 0x00,  // identification 16, DF
            0x40, 0x06, 0x00, 0x00,  // TTL 64, TCP, header checksum (below)
        ]
        packet += Lab.hostA.bytes + Lab.hostB.bytes
        packet += [0xC0, 0x00, 0x23, 0x28]  // ports 49152 -> 9000
        packet += [0x00, 0x00, 0x10, 0x00]  // sequence number 4096
        packet += [0x00, 0x00, 0x00, 0x01]  // acknowledgement 1
        packet += [0x50, flags, 0xFF, 0xFF]  // data offset 5, flags, window
        packet += [0x00, 0x00, 0x00, 0x00]  // checksum (below), urgent pointer
        packet += payload
        packet.withUnsafeMutableBytes { buffer in
            let header = InternetChecksum.sum(UnsafeRawBufferPointer(buffer.slice(0, 20)))
            buffer.writeUInt16(InternetChecksum.finish(header), at: 10)
            let pseudo = InternetChecksum.pseudoHeaderSum(
                source: Lab.hostA, destination: Lab.hostB, ipProtocol: 6, length: 20 + payload.count
            )
            var folded = pseudo
            while folded > 0xFFFF { folded = (folded & 0xFFFF) + (folded >> 16) }
            buffer.writeUInt16(UInt16(folded), at: 36)
        }
        return packet
    }

    /// True when the TCP checksum of an IPv4 packet verifies.
    private func tcpChecksumValid(_ packet: ArraySlice<UInt8>) -> Bool {
        Array(packet).withUnsafeBytes { buffer in
            let length = buffer.count - 20
            let source = IPAddress(bytes: buffer[12..<16])!
            let destination = IPAddress(bytes: buffer[16..<20])!
            let pseudo = InternetChecksum.pseudoHeaderSum(
                source: source, destination: destination, ipProtocol: 6, length: length)
            let sum = InternetChecksum.sum(buffer.slice(20, length), initial: pseudo)
            return InternetChecksum.finish(sum) == 0
        }
    }

    /// Sends `packet` from host A through gw1 and gw2; returns the IP packets host B gets.
    private func throughTunnel(_ packet: [UInt8], offload: OffloadHeader) throws -> [[UInt8]] {
        let pair = Lab.saPair(encryption: .aesCBC128, integrity: .hmacSHA1_96)
        let (gw1, _) = try Lab.gateway(
            gw1: true, sa: pair.gw1,
            bindings: [TaggingRulesTests.bindingHostA])
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let wire = MemorySink(capacity: 200)
        _ = gw1.inside(Lab.fromHostA(packet), offload: offload, sink: wire)
        var delivered: [[UInt8]] = []
        for frame in wire.frames {
            XCTAssertLessThanOrEqual(frame.count - 14, 1500, "outer packet within the MTU")
            let sink = MemorySink()
            XCTAssertEqual(gw2.outside(frame, sink: sink), .forwarded(frames: 1))
            delivered += sink.frames.map { Array($0[14...]) }
        }
        return delivered
    }

    func testCompletesPartialChecksum() throws {
        let packet = partialTCP(payload: Array("checksum left to the device".utf8))
        XCTAssertFalse(tcpChecksumValid(packet[...]), "the input checksum is only partial")
        // csum_start: Ethernet 14 + IPv4 20; csum_offset: TCP checksum at 16.
        let offload = OffloadHeader(
            needsChecksum: true, checksumStart: 34, checksumOffset: 16,
            gsoType: 0, gsoSize: 0)
        let delivered = try throughTunnel(packet, offload: offload)
        XCTAssertEqual(delivered.count, 1)
        XCTAssertTrue(tcpChecksumValid(delivered[0][...]))
        XCTAssertEqual(Array(delivered[0][40...]), Array(packet[40...]))
    }

    func testSegmentsTCPGSOFrame() throws {
        let payload = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let packet = partialTCP(payload: payload, flags: 0x19)  // PSH, ACK, FIN
        let offload = OffloadHeader(
            needsChecksum: true, checksumStart: 34, checksumOffset: 16,
            gsoType: UInt8(VIRTIO_NET_HDR_GSO_TCPV4), gsoSize: 1448)
        let segments = try throughTunnel(packet, offload: offload)

        // ESP, the CMD and the outer header leave less than 1448 bytes, so segments shrink.
        XCTAssertGreaterThan(segments.count, 7)
        var reassembled: [UInt8] = []
        var expectedSequence: UInt32 = 4096
        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            XCTAssertTrue(tcpChecksumValid(segment[...]), "segment \(index) TCP checksum")
            let ipLength = Int(segment[2]) << 8 | Int(segment[3])
            XCTAssertEqual(ipLength, segment.count, "segment \(index) total length")
            let sequence = segment[24..<28].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            XCTAssertEqual(sequence, expectedSequence, "segment \(index) sequence number")
            let flags = segment[33]
            XCTAssertEqual(flags & 0x09 != 0, isLast, "FIN and PSH only on the last segment")
            let data = Array(segment[40...])
            reassembled += data
            expectedSequence &+= UInt32(data.count)
        }
        XCTAssertEqual(reassembled, payload)
    }

    func testResegmentsOversizedTCPWithoutGSO() throws {
        // A 1500-byte TCP packet does not fit the tunnel once ESP is added.
        let packet = partialTCP(payload: [UInt8](repeating: 0x5A, count: 1460))
        let segments = try throughTunnel(packet, offload: .none)
        XCTAssertEqual(segments.count, 2)
        XCTAssertEqual(segments.map { $0.count - 40 }.reduce(0, +), 1460)
    }

    func testPacketTooBigForUDPWithDF() throws {
        let pair = Lab.saPair()
        let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let packet = Lab.ipv4UDP(payload: [UInt8](repeating: 1, count: 1472))  // 1500 bytes, DF
        let wire = MemorySink()
        let replies = MemorySink()
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(packet), sink: wire, replies: replies),
            .dropped(.tooBig))
        XCTAssertTrue(wire.frames.isEmpty)
        XCTAssertEqual(state.counters.value(.encapsFailed), 1)
        let reply = try XCTUnwrap(replies.frames.first)
        XCTAssertEqual(Array(reply[0..<6]), Lab.hostAMAC.bytes)  // back to the sender
        XCTAssertEqual(reply[23], 1)  // ICMP
        XCTAssertEqual(Array(reply[30..<34]), Lab.hostA.bytes)  // to host A
        XCTAssertEqual(reply[34], 3)  // Destination Unreachable
        XCTAssertEqual(reply[35], 4)  // Fragmentation Needed
        let mtu = Int(reply[40]) << 8 | Int(reply[41])
        XCTAssertGreaterThan(mtu, 1400)
        XCTAssertLessThan(mtu, 1500)
        XCTAssertEqual(Array(reply[42..<62]), Array(packet[0..<20]), "quotes the IP header")
    }

    func testRejectsChecksumOffsetOutsidePacket() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let offload = OffloadHeader(
            needsChecksum: true, checksumStart: 34, checksumOffset: 4000,
            gsoType: 0, gsoSize: 0)
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(Lab.ipv4UDP()), offload: offload, sink: MemorySink()),
            .dropped(.unsupportedOffload))
    }
}

final class HopLimitTests: XCTestCase {
    func testTimeExceededOnTTL1() throws {
        let pair = Lab.saPair()
        let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1)
        var packet = Lab.ipv4UDP()
        packet[8] = 1  // TTL 1; the header checksum is left stale, nothing checks it here
        let wire = MemorySink()
        let replies = MemorySink()
        XCTAssertEqual(
            gw1.inside(Lab.fromHostA(packet), sink: wire, replies: replies),
            .dropped(.ttlExpired))
        XCTAssertTrue(wire.frames.isEmpty)
        XCTAssertEqual(state.counters.value(.encaps), 0)
        let reply = try XCTUnwrap(replies.frames.first)
        XCTAssertEqual(Array(reply[0..<6]), Lab.hostAMAC.bytes)
        XCTAssertEqual(Array(reply[26..<30]), Lab.gw1Inside.bytes)  // from the inside address
        XCTAssertEqual(reply[34], 11)  // Time Exceeded
        XCTAssertEqual(reply[35], 0)  // TTL exceeded in transit
        XCTAssertEqual(Array(reply[42..<62]), Array(packet[0..<20]))
    }

    func testInboundTTL1Dropped() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        var inner = Lab.ipv4UDP(source: Lab.hostB, destination: Lab.hostA)
        inner[8] = 1  // TTL 1
        let frame = builder.frame(payload: inner, nextHeader: 4, sequence: 1)
        XCTAssertEqual(gw1.outside(frame, sink: MemorySink()), .dropped(.ttlExpired))
        XCTAssertEqual(gw1.context.drops[0].value(.ttlExpired), 1)
    }

    func testDecrementKeepsChecksumValid() {
        // Headers with many different checksums, so the incremental update meets every carry.
        var value: UInt32 = 0x1234_5678
        for index in 0..<5000 {
            value = value &* 1_103_515_245 &+ 12345
            var header: [UInt8] = [0x45, 0, 0, 20, 0, 0, 0, 0, UInt8(2 + index % 254), 17, 0, 0]
            header += [
                UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF),
                UInt8(value & 0xFF), 198, 51, 100, UInt8(index & 0xFF),
            ]
            header.withUnsafeMutableBytes { buffer in
                let sum = InternetChecksum.sum(UnsafeRawBufferPointer(buffer))
                buffer.writeUInt16(InternetChecksum.finish(sum), at: 10)
            }
            let ttl = header[8]
            header.withUnsafeMutableBytes { HopLimit.decrement($0, isIPv4: true) }
            XCTAssertEqual(header[8], ttl - 1)
            let verified = header.withUnsafeBytes {
                InternetChecksum.finish(InternetChecksum.sum($0))
            }
            XCTAssertEqual(verified, 0, "header \(index)")
            if verified != 0 { break }
        }
    }
}
