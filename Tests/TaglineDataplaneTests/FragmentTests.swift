import TaglineCore
import XCTest

@testable import TaglineDataplane

final class FragmentTests: XCTestCase {
    /// Builds a 1500-byte IPv4 UDP packet from host A to host B without DF and with a valid UDP
    /// checksum, or with the pseudo-header sum only when `partial` is set.
    private func largeUDP(partial: Bool) -> [UInt8] {
        var packet = Lab.ipv4UDP(payload: (0..<1472).map { UInt8(truncatingIfNeeded: $0) })
        packet[6] = 0  // flags: DF cleared
        packet.withUnsafeMutableBytes { buffer in
            buffer.writeUInt16(0, at: 10)
            let header = InternetChecksum.sum(UnsafeRawBufferPointer(buffer.slice(0, 20)))
            buffer.writeUInt16(InternetChecksum.finish(header), at: 10)
            let pseudo = InternetChecksum.pseudoHeaderSum(
                source: Lab.hostA, destination: Lab.hostB, ipProtocol: 17, length: 1480)
            if partial {
                var folded = pseudo
                while folded > 0xFFFF { folded = (folded & 0xFFFF) + (folded >> 16) }
                buffer.writeUInt16(UInt16(folded), at: 26)
            } else {
                let sum = InternetChecksum.sum(
                    UnsafeRawBufferPointer(buffer.slice(20, 1480)), initial: pseudo)
                buffer.writeUInt16(InternetChecksum.finish(sum), at: 26)
            }
        }
        return packet
    }

    /// Sends `packet` through both gateways; returns the IP packets host B receives.
    private func throughTunnel(_ packet: [UInt8], offload: OffloadHeader) throws -> [[UInt8]] {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(
            gw1: true, sa: pair.gw1, bindings: [TaggingRulesTests.bindingHostA])
        let (gw2, gw2State) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let wire = MemorySink()
        let verdict = gw1.inside(Lab.fromHostA(packet), offload: offload, sink: wire)
        XCTAssertEqual(verdict, .forwarded(frames: wire.frames.count))
        var delivered: [[UInt8]] = []
        for frame in wire.frames {
            XCTAssertLessThanOrEqual(frame.count - 14, 1500)
            let sink = MemorySink()
            XCTAssertEqual(gw2.outside(frame, sink: sink), .forwarded(frames: 1))
            delivered += sink.frames.map { Array($0[14...]) }
        }
        XCTAssertEqual(
            gw2State.counters.value(.untagged), UInt64(wire.frames.count),
            "every fragment carries the tag")
        return delivered
    }

    /// Checks each fragment's header and returns the reassembled IP payload.
    private func reassemble(_ fragments: [[UInt8]]) -> [UInt8] {
        var payload: [UInt8] = []
        for (index, fragment) in fragments.enumerated() {
            let isLast = index == fragments.count - 1
            let headerValid = fragment.withUnsafeBytes {
                InternetChecksum.finish(
                    InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: $0[0..<20])))
            }
            XCTAssertEqual(headerValid, 0, "fragment \(index) header checksum")
            XCTAssertEqual(fragment[8], 62, "fragment \(index) TTL after two gateways")
            let flags = UInt16(fragment[6]) << 8 | UInt16(fragment[7])
            XCTAssertEqual(flags & 0x2000 != 0, !isLast, "fragment \(index) MF")
            XCTAssertEqual(Int(flags & 0x1FFF) * 8, payload.count, "fragment \(index) offset")
            XCTAssertEqual(Int(fragment[2]) << 8 | Int(fragment[3]), fragment.count)
            payload += fragment[20...]
        }
        return payload
    }

    func testFragmentsPacketWithoutDF() throws {
        let packet = largeUDP(partial: false)
        let fragments = try throughTunnel(packet, offload: .none)
        XCTAssertEqual(fragments.count, 2)
        XCTAssertEqual(reassemble(fragments), Array(packet[20...]))
    }

    func testFragmentsCompletePartialChecksum() throws {
        let packet = largeUDP(partial: true)
        // csum_start: Ethernet 14 + IPv4 20; csum_offset: UDP checksum at 6.
        let offload = OffloadHeader(
            needsChecksum: true, checksumStart: 34, checksumOffset: 6, gsoType: 0, gsoSize: 0)
        let fragments = try throughTunnel(packet, offload: offload)
        XCTAssertEqual(fragments.count, 2)
        XCTAssertEqual(reassemble(fragments), Array(largeUDP(partial: false)[20...]))
    }

    func testPacketWithOptionsNotFragmented() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        var packet = largeUDP(partial: false)
        // IHL 6 with one 4-byte option (four No Operation bytes); total length unchanged.
        packet[0] = 0x46
        packet.insert(contentsOf: [1, 1, 1, 1], at: 20)
        packet.removeLast(4)
        XCTAssertEqual(gw1.inside(Lab.fromHostA(packet), sink: MemorySink()), .dropped(.tooBig))
    }
}

/// ESP packets fragmented after encryption, on the outer header, reach gw1 in pieces.
final class OuterFragmentTests: XCTestCase {
    /// Splits an outer IPv4 frame into two fragments after `split` bytes of IP payload.
    private func fragmentIPv4(_ frame: [UInt8], split: Int) -> [[UInt8]] {
        let ethernet = Array(frame[0..<14])
        let header = Array(frame[14..<34])
        let payload = Array(frame[34...])
        func piece(_ data: ArraySlice<UInt8>, offset: Int, more: Bool) -> [UInt8] {
            var ip = header
            let total = 20 + data.count
            ip[2] = UInt8(total >> 8)
            ip[3] = UInt8(total & 0xFF)
            let flags = (more ? 0x2000 : 0) | offset / 8
            ip[6] = UInt8(flags >> 8)
            ip[7] = UInt8(flags & 0xFF)
            return ethernet + ip + data
        }
        return [
            piece(payload[0..<split], offset: 0, more: true),
            piece(payload[split...], offset: split, more: false),
        ]
    }

    /// Splits an outer IPv6 frame (ESP or UDP right after the fixed header) with a
    /// Fragment header.
    private func fragmentIPv6(_ frame: [UInt8], split: Int) -> [[UInt8]] {
        let ethernet = Array(frame[0..<14])
        let header = Array(frame[14..<54])
        let payload = Array(frame[54...])
        let nextHeader = header[6]
        func piece(_ data: ArraySlice<UInt8>, offset: Int, more: Bool) -> [UInt8] {
            var ip = header
            let length = 8 + data.count
            ip[4] = UInt8(length >> 8)
            ip[5] = UInt8(length & 0xFF)
            ip[6] = 44  // Fragment header
            let field = (offset / 8) << 3 | (more ? 1 : 0)
            // Next Header, reserved, offset and M, identification 0x01020304
            let fragmentHeader: [UInt8] = [
                nextHeader, 0, UInt8(field >> 8), UInt8(field & 0xFF),
                1, 2, 3, 4,
            ]
            return ethernet + ip + fragmentHeader + data
        }
        return [
            piece(payload[0..<split], offset: 0, more: true),
            piece(payload[split...], offset: split, more: false),
        ]
    }

    private func check(udp: Bool, outerIPv6: Bool, reversed: Bool) throws {
        let label = "udp=\(udp) ipv6=\(outerIPv6) reversed=\(reversed)"
        let pair = Lab.saPair(udp: udp, outerIPv6: outerIPv6)
        let (gw1, state) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        let frame = builder.frame(
            payload: CMDInESPTests.m1 + CMDInESPTests.inner, nextHeader: 253, sequence: 1)
        var fragments = outerIPv6 ? fragmentIPv6(frame, split: 48) : fragmentIPv4(frame, split: 48)
        if reversed { fragments.reverse() }
        let sink = MemorySink()
        XCTAssertEqual(gw1.outside(fragments[0], sink: sink), .consumed, label)
        XCTAssertEqual(gw1.outside(fragments[1], sink: sink), .forwarded(frames: 1), label)
        XCTAssertEqual(
            sink.frames.map { Array($0[14...]) },
            [Lab.forwarded(CMDInESPTests.inner, hops: 1)], label)
        XCTAssertEqual(state.counters.value(.untagged), 1, "the CMD travels once: \(label)")
        XCTAssertEqual(gw1.reassembler.pendingCount, 0, label)
    }

    func testReassemblesBeforeDecryption() throws {
        for udp in [false, true] {
            for outerIPv6 in [false, true] {
                for reversed in [false, true] {
                    try check(udp: udp, outerIPv6: outerIPv6, reversed: reversed)
                }
            }
        }
    }

    func testOverlappingFragmentDropped() throws {
        let pair = Lab.saPair()
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let builder = try ESPFrameBuilder(sa: pair.gw2)
        let frame = builder.frame(payload: CMDInESPTests.inner, nextHeader: 4, sequence: 1)
        let first = fragmentIPv4(frame, split: 48)
        let overlapping = fragmentIPv4(frame, split: 40)[1]  // starts at 40, inside 0..<48
        XCTAssertEqual(gw1.outside(first[0], sink: MemorySink()), .consumed)
        XCTAssertEqual(gw1.outside(overlapping, sink: MemorySink()), .dropped(.reassemblyFailed))
        XCTAssertEqual(gw1.context.drops[0].value(.reassemblyFailed), 1)
    }
}
