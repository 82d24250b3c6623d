// ICMP errors about packets whose source names no single host. A peer across
// the tunnel, or a host on the inside, may forge the source of a packet too
// big for the next link. RFC 1122 §3.2.2 and RFC 4443 §2.4 (e) forbid an error
// to such a source: unspecified, loopback, broadcast, multicast, class E.

import TaglineCore
import XCTest

@testable import TaglineDataplane

final class ICMPErrorSourceTests: XCTestCase {
    /// Forged sources that must never get an error.
    private static let forgedIPv4 = [
        "0.0.0.0", "127.0.0.1", "224.0.0.5", "240.0.0.1",
        "255.255.255.255",
    ]
    private static let forgedIPv6 = ["::", "::1", "ff02::1"]

    /// Returns gw1 and gw2 whose SA carries any address, gw2 with a 1300-byte inside link.
    private func gateways() throws -> (gw1: Pipeline, gw2: Pipeline) {
        var pair = Lab.saPair()
        let any = [
            TrafficSelector(prefix: IPPrefix("0.0.0.0/0")!),
            TrafficSelector(prefix: IPPrefix("::/0")!),
        ]
        pair.gw1.localSelectors = any
        pair.gw2.remoteSelectors = any
        let (gw1, _) = try Lab.gateway(gw1: true, sa: pair.gw1)
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2, insideMTU: 1300)
        return (gw1, gw2)
    }

    private func packet(from source: String) -> [UInt8] {
        let address = IPAddress(source)!
        if address.isIPv4 {
            return Lab.ipv4UDP(source: address, payload: [UInt8](repeating: 1, count: 1372))
        }
        return Lab.ipv6UDP(source: address, payload: [UInt8](repeating: 1, count: 1352))
    }

    /// Checks that a decrypted packet too big for the inside link, from a source a peer
    /// forged, is dropped as a martian without an error through the tunnel.
    func testTunnel() throws {
        var pair = Lab.saPair()
        pair.gw2.remoteSelectors = [
            TrafficSelector(prefix: IPPrefix("0.0.0.0/0")!),
            TrafficSelector(prefix: IPPrefix("::/0")!),
        ]
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2, insideMTU: 1300)
        let builder = try ESPFrameBuilder(sa: pair.gw1)
        for (index, source) in (Self.forgedIPv4 + Self.forgedIPv6).enumerated() {
            let inner = packet(from: source)
            let esp = builder.esp(
                payload: inner, nextHeader: inner[0] >> 4 == 4 ? 4 : 41,
                sequence: UInt32(index + 1))
            let frame = Lab.espFrameToGW2(esp)
            let back = MemorySink()
            let verdict = gw2.outside(frame, sink: MemorySink(), replies: back)
            XCTAssertEqual(verdict, .dropped(.martianSource), source)
            XCTAssertTrue(back.frames.isEmpty, "\(source): error sent")
        }
        XCTAssertNil(gw2.context.dropTotals()["icmpRateLimited"])
    }

    /// Checks that a packet too big for the tunnel, from a forged source on the inside
    /// link, is dropped as a martian and gets no error on that link.
    func testInside() throws {
        let (gw1, _) = try gateways()
        for source in Self.forgedIPv4 + Self.forgedIPv6 {
            var big = packet(from: source)
            if big[0] >> 4 == 6 {
                big = Lab.ipv6UDP(
                    source: IPAddress(source)!, payload: [UInt8](repeating: 1, count: 1452))
            } else {
                big = Lab.ipv4UDP(
                    source: IPAddress(source)!, payload: [UInt8](repeating: 1, count: 1472))
            }
            let replies = MemorySink()
            let verdict = gw1.inside(Lab.fromHostA(big), sink: MemorySink(), replies: replies)
            XCTAssertEqual(verdict, .dropped(.martianSource), source)
            XCTAssertTrue(replies.frames.isEmpty, "\(source): error sent")
        }
    }

    /// Checks the rule for a real host: the error is still sent.
    func testHostGetsError() throws {
        let lab = try gateways()
        let wire = MemorySink()
        _ = lab.gw1.inside(Lab.fromHostA(packet(from: "192.0.2.2")), sink: wire)
        let back = MemorySink()
        _ = lab.gw2.outside(wire.frames[0], sink: MemorySink(), replies: back)
        XCTAssertEqual(back.frames.count, 1)
    }

    private func mayReport(_ kind: ICMPErrorKind, _ packet: [UInt8]) -> Bool {
        packet.withUnsafeBytes { bytes in
            guard let info = IPPacketInfo.parse(bytes) else { return true }
            return kind.mayReport(bytes, info: info)
        }
    }

    /// Checks the destination rules: no error about IPv4 to a group or broadcast, and only
    /// Packet Too Big about IPv6 to a group.
    func testDestinations() {
        let group4 = Lab.ipv4UDP(destination: IPAddress("239.1.1.1")!)
        let broadcast = Lab.ipv4UDP(destination: IPAddress("255.255.255.255")!)
        let group6 = Lab.ipv6UDP(destination: IPAddress("ff0e::1")!)
        XCTAssertFalse(mayReport(.packetTooBig(mtu: 1300), group4))
        XCTAssertFalse(mayReport(.timeExceeded, broadcast))
        XCTAssertTrue(mayReport(.packetTooBig(mtu: 1300), group6))
        XCTAssertFalse(mayReport(.timeExceeded, group6))
        XCTAssertTrue(mayReport(.timeExceeded, Lab.ipv6UDP()))
    }

    /// Checks that a later IPv6 fragment gets no error, even when its first data byte looks
    /// like an ICMPv6 informational type, and that the first fragment does.
    func testIPv6LaterFragment() {
        func fragment(offset: UInt16) -> [UInt8] {
            var packet = Lab.ipv6UDP(payload: [UInt8](repeating: 0x80, count: 40))
            // Fragment header (next header ICMPv6) between the IPv6 header and the data.
            packet[6] = 44
            let header: [UInt8] = [
                58, 0, UInt8(offset >> 5), UInt8((offset << 3) & 0xF8), 0, 0, 0, 1,
            ]
            packet.insert(contentsOf: header, at: 40)
            let payloadLength = packet.count - 40
            packet[4] = UInt8(payloadLength >> 8)
            packet[5] = UInt8(payloadLength & 0xFF)
            packet[48] = 0x80
            return packet
        }
        XCTAssertTrue(mayReport(.packetTooBig(mtu: 1300), fragment(offset: 0)))
        XCTAssertFalse(mayReport(.packetTooBig(mtu: 1300), fragment(offset: 100)))
    }
}
