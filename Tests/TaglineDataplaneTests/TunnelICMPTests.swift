// ICMP errors about decrypted packets too big for the inside link, sent back
// through the tunnel. Host A sends through gw1 to gw2, whose inside link has
// a smaller MTU. gw2 seals the error towards gw1, which decrypts it and
// delivers it to host A.

import TaglineCore
import XCTest

@testable import TaglineDataplane

final class TunnelICMPTests: XCTestCase {
    /// gw2's own binding: the SGT its inside address carries in the tunnel.
    private static let gw2Binding = SGTBinding(
        prefix: IPPrefix("203.0.113.1/32")!, sgt: SGT(2)!, source: .config)

    private struct Gateways {
        var gw1: Pipeline
        var gw1State: SAState
        var gw2: Pipeline
        var gw2State: SAState
    }

    /// Returns gw1 and gw2 with a 1300-byte inside link at gw2. `pair` defaults to the lab's.
    private func gateways(pair: (gw1: ChildSA, gw2: ChildSA) = Lab.saPair()) throws -> Gateways {
        let (gw1, gw1State) = try Lab.gateway(
            gw1: true, sa: pair.gw1, bindings: [TaggingRulesTests.bindingHostA])
        let (gw2, gw2State) = try Lab.gateway(
            gw1: false, sa: pair.gw2, bindings: [Self.gw2Binding], insideMTU: 1300)
        return Gateways(gw1: gw1, gw1State: gw1State, gw2: gw2, gw2State: gw2State)
    }

    /// Builds an IPv4 UDP packet of `length` bytes from host A to host B with DF set.
    private func ipv4Packet(length: Int) -> [UInt8] {
        Lab.ipv4UDP(payload: (0..<(length - 28)).map { UInt8(truncatingIfNeeded: $0) })
    }

    /// Sends `packet` from host A through gw1 to gw2. Returns gw2's verdict, the frames gw2
    /// sends back towards gw1, and what host B gets.
    private func send(_ packet: [UInt8], through lab: Gateways) -> (
        verdict: PacketVerdict, back: [[UInt8]], delivered: [[UInt8]]
    ) {
        let wire = MemorySink()
        XCTAssertEqual(lab.gw1.inside(Lab.fromHostA(packet), sink: wire), .forwarded(frames: 1))
        let host = MemorySink()
        let back = MemorySink()
        let verdict = lab.gw2.outside(wire.frames[0], sink: host, replies: back)
        return (verdict, back.frames, host.frames)
    }

    /// Decrypts `frame`, an ESP frame from gw2, at gw1 and returns the IP packet host A gets.
    private func receivedAtHostA(_ frame: [UInt8], gw1: Pipeline) -> [UInt8]? {
        let host = MemorySink()
        XCTAssertEqual(gw1.outside(frame, sink: host), .forwarded(frames: 1))
        guard let delivered = host.frames.first else { return nil }
        XCTAssertEqual(Array(delivered[0..<6]), Lab.hostAMAC.bytes, "to host A's MAC")
        return Array(delivered[14...])
    }

    private func checksum(_ bytes: ArraySlice<UInt8>, initial: UInt64 = 0) -> UInt16 {
        Array(bytes).withUnsafeBytes {
            InternetChecksum.finish(InternetChecksum.sum($0, initial: initial))
        }
    }

    func testFragmentationNeededIPv4() throws {
        let lab = try gateways()
        let packet = ipv4Packet(length: 1400)
        let (verdict, back, delivered) = send(packet, through: lab)
        XCTAssertEqual(verdict, .dropped(.tooBig))
        XCTAssertTrue(delivered.isEmpty)
        XCTAssertEqual(back.count, 1)
        guard let frame = back.first else { return }

        // On the wire: ESP from gw2 to gw1, with the CMD of gw2's own binding inside.
        XCTAssertEqual(Array(frame[0..<6]), Lab.gw1OutsideMAC.bytes)
        XCTAssertEqual(frame[14 + 9], 50, "ESP")
        XCTAssertEqual(
            Array(frame[(14 + 12)..<(14 + 20)]), Lab.gw2Outside.bytes + Lab.gw1Outside.bytes)
        XCTAssertEqual(lab.gw2State.counters.value(.tagged), 1)

        // Decrypted at gw1: an ICMP error from gw2's inside address to host A.
        guard let error = receivedAtHostA(frame, gw1: lab.gw1) else {
            return XCTFail("not delivered")
        }
        XCTAssertEqual(lab.gw1State.counters.value(.untagged), 1, "CMD extracted")
        XCTAssertEqual(error.count, 576, "RFC 1812 limit")
        XCTAssertEqual(error[9], 1, "protocol ICMP")
        XCTAssertEqual(Array(error[12..<16]), Lab.gw2Inside.bytes, "source")
        XCTAssertEqual(Array(error[16..<20]), Lab.hostA.bytes, "destination")
        XCTAssertEqual(error[8], 63, "TTL 64, lowered by gw1")
        XCTAssertEqual(checksum(error[0..<20]), 0, "header checksum")
        XCTAssertEqual(Array(error[20..<22]), [3, 4], "fragmentation needed")
        XCTAssertEqual(Int(error[26]) << 8 | Int(error[27]), 1300, "next-hop MTU")
        XCTAssertEqual(checksum(error[20...]), 0, "ICMP checksum")
        let quoted = Array(Lab.forwarded(packet, hops: 2).prefix(548))
        XCTAssertEqual(Array(error[28...]), quoted, "quote of the packet as gw2 had it")
    }

    func testPacketTooBigIPv6() throws {
        let lab = try gateways()
        let packet = Lab.ipv6UDP(payload: [UInt8](repeating: 9, count: 1352))
        let (verdict, back, _) = send(packet, through: lab)
        XCTAssertEqual(verdict, .dropped(.tooBig))
        XCTAssertEqual(back.count, 1)
        guard let frame = back.first,
            let error = receivedAtHostA(frame, gw1: lab.gw1)
        else { return XCTFail("no error through the tunnel") }
        XCTAssertEqual(error.count, 1280, "RFC 4443 limit")
        XCTAssertEqual(error[6], 58, "next header ICMPv6")
        XCTAssertEqual(Array(error[8..<24]), IPAddress("2001:db8:b::1")!.bytes, "source")
        XCTAssertEqual(Array(error[24..<40]), Lab.hostA6.bytes, "destination")
        XCTAssertEqual(Array(error[40..<42]), [2, 0], "packet too big")
        XCTAssertEqual(error[44..<48].reduce(0) { $0 << 8 | Int($1) }, 1300, "MTU")
        let pseudo = InternetChecksum.pseudoHeaderSum(
            source: IPAddress("2001:db8:b::1")!, destination: Lab.hostA6, ipProtocol: 58,
            length: 1240)
        XCTAssertEqual(checksum(error[40...], initial: pseudo), 0, "ICMPv6 checksum")
        let quoted = Array(Lab.forwarded(packet, hops: 2).prefix(1232))
        XCTAssertEqual(Array(error[48...]), quoted)
    }

    func testDFClearFragmentedNoError() throws {
        let lab = try gateways()
        var packet = ipv4Packet(length: 1400)
        packet[6] = 0
        packet[10] = 0
        packet[11] = 0
        let sum = checksum(packet[0..<20])
        packet[10] = UInt8(sum >> 8)
        packet[11] = UInt8(sum & 0xFF)
        let (verdict, back, delivered) = send(packet, through: lab)
        XCTAssertEqual(verdict, .forwarded(frames: 2))
        XCTAssertEqual(delivered.count, 2)
        XCTAssertTrue(back.isEmpty)
    }

    /// Checks that errors through the tunnel share the worker's ICMP rate limit: a burst of
    /// 50, then about one a millisecond, the rest counted.
    func testRateLimited() throws {
        let lab = try gateways()
        let wire = MemorySink(capacity: 80)
        let packet = Lab.fromHostA(ipv4Packet(length: 1400))
        for _ in 0..<80 {
            XCTAssertEqual(lab.gw1.inside(packet, sink: wire), .forwarded(frames: 1))
        }
        let back = MemorySink(capacity: 80)
        let started = monotonicNanoseconds()
        for frame in wire.frames {
            XCTAssertEqual(
                lab.gw2.outside(frame, sink: MemorySink(), replies: back), .dropped(.tooBig))
        }
        let milliseconds = Int((monotonicNanoseconds() - started) / 1_000_000)
        let limited = Int(lab.gw2.context.dropTotals()["icmpRateLimited"] ?? 0)
        XCTAssertEqual(back.frames.count + limited, 80)
        XCTAssertGreaterThanOrEqual(back.frames.count, 50)
        XCTAssertLessThanOrEqual(back.frames.count, 51 + milliseconds)
    }

    /// Checks that an error no outbound SA covers is counted and not sent: here the SA
    /// carries only host B, not gw2's inside address.
    func testNoPolicyCounted() throws {
        var pair = Lab.saPair()
        let hostBOnly = [
            TrafficSelector(prefix: IPPrefix("203.0.113.2/32")!),
            TrafficSelector(prefix: IPPrefix("2001:db8:b::2/128")!),
        ]
        pair.gw1.remoteSelectors = hostBOnly
        pair.gw2.localSelectors = hostBOnly
        let lab = try gateways(pair: pair)
        let (verdict, back, _) = send(ipv4Packet(length: 1400), through: lab)
        XCTAssertEqual(verdict, .dropped(.tooBig))
        XCTAssertTrue(back.isEmpty)
        let drops = lab.gw2.context.dropTotals()
        XCTAssertEqual(drops["icmpErrorNoPolicy"], 1)
        XCTAssertEqual(drops["tooBig"], 1)
        XCTAssertNil(drops["icmpRateLimited"])
    }

    /// Checks that the error quote shrinks to fit a tunnel whose path MTU is low, so the
    /// error needs no fragmentation.
    func testQuoteFitsTunnel() throws {
        let lab = try gateways()
        lab.gw2State.pathMTU.lower(to: 600, now: monotonicNanoseconds())
        let packet = Lab.ipv6UDP(payload: [UInt8](repeating: 9, count: 1352))
        let (_, back, _) = send(packet, through: lab)
        XCTAssertEqual(back.count, 1)
        XCTAssertLessThanOrEqual(back.first?.count ?? 0, 14 + 600)
        guard let frame = back.first,
            let error = receivedAtHostA(frame, gw1: lab.gw1)
        else { return XCTFail("no error through the tunnel") }
        XCTAssertEqual(Array(error[40..<42]), [2, 0], "packet too big")
        XCTAssertEqual(Array(error[48..<88]), Array(Lab.forwarded(packet, hops: 2)[0..<40]))
    }
}
