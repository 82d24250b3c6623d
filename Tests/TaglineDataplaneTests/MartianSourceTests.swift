import TaglineCore
import XCTest

@testable import TaglineDataplane

/// Sources that name no single host, on SAs whose selectors cover every address, so only
/// the martian rule can stop them. Each is dropped as `martianSource` going into the tunnel
/// and coming out of it, and an ordinary source still passes both ways.
final class MartianSourceTests: XCTestCase {
    static let martians = [
        "0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.5", "239.1.2.3", "240.0.0.1",
        "255.255.255.255", "::", "::1", "ff02::1",
    ]

    /// Returns the lab SA pair with selectors 0.0.0.0/0 and ::/0 on both sides.
    private func coverAllPair() -> (gw1: ChildSA, gw2: ChildSA) {
        var pair = Lab.saPair()
        let all = [
            TrafficSelector(prefix: IPPrefix("0.0.0.0/0")!),
            TrafficSelector(prefix: IPPrefix("::/0")!),
        ]
        pair.gw1.localSelectors = all
        pair.gw1.remoteSelectors = all
        pair.gw2.localSelectors = all
        pair.gw2.remoteSelectors = all
        return pair
    }

    private func packet(from source: String) -> [UInt8] {
        let address = IPAddress(source)!
        if address.isIPv4 { return Lab.ipv4UDP(source: address) }
        return Lab.ipv6UDP(source: address)
    }

    private func frame(_ packet: [UInt8]) -> [UInt8] {
        Lab.ethernet(
            destination: Lab.gw1InsideMAC, source: Lab.hostAMAC,
            type: packet[0] >> 4 == 4 ? 0x0800 : 0x86DD, packet)
    }

    func testOutboundDropped() throws {
        let (gw1, _) = try Lab.gateway(gw1: true, sa: coverAllPair().gw1)
        for source in Self.martians {
            let verdict = gw1.inside(frame(packet(from: source)), sink: MemorySink())
            XCTAssertEqual(verdict, .dropped(.martianSource), source)
        }
        XCTAssertEqual(gw1.context.dropTotals()["martianSource"], UInt64(Self.martians.count))
        let ordinary = gw1.inside(frame(Lab.ipv4UDP()), sink: MemorySink())
        XCTAssertEqual(ordinary, .forwarded(frames: 1))
    }

    func testInboundDropped() throws {
        let pair = coverAllPair()
        let (gw2, _) = try Lab.gateway(gw1: false, sa: pair.gw2)
        let builder = try ESPFrameBuilder(sa: pair.gw1)
        var sequence: UInt32 = 1
        func fromTunnel(_ inner: [UInt8]) -> PacketVerdict {
            let esp = builder.esp(
                payload: inner, nextHeader: inner[0] >> 4 == 4 ? 4 : 41, sequence: sequence)
            sequence += 1
            let frame = Lab.espFrameToGW2(esp)
            return gw2.outside(frame, sink: MemorySink())
        }
        for source in Self.martians {
            XCTAssertEqual(fromTunnel(packet(from: source)), .dropped(.martianSource), source)
        }
        XCTAssertEqual(gw2.context.dropTotals()["martianSource"], UInt64(Self.martians.count))
        XCTAssertEqual(fromTunnel(Lab.ipv4UDP()), .forwarded(frames: 1))
    }

    /// Checks that the in-place form gives the same result from the packet's bytes as the
    /// address form, for martians and ordinary hosts of both families.
    func testByteFormAgrees() {
        let hosts = ["192.0.2.2", "1.2.3.4", "223.255.255.255", "2001:db8::1", "::2", "fe80::1"]
        for text in Self.martians + hosts {
            let address = IPAddress(text)!
            let bytes = packet(from: text)
            let inPlace = bytes.withUnsafeBytes {
                ICMPErrorKind.namesOneHost(sourceOf: $0, isIPv4: address.isIPv4)
            }
            XCTAssertEqual(inPlace, ICMPErrorKind.namesOneHost(address), text)
            XCTAssertEqual(inPlace, !Self.martians.contains(text), text)
        }
    }
}
