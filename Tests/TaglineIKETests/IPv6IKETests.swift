// Two engines over an IPv6 outside link (2001:db8:100::1 and ::2), each
// protecting an IPv6 and an IPv4 inside network: 2001:db8:1::/64 and
// 192.0.2.0/24 on A, 2001:db8:2::/64 and 203.0.113.0/24 on B.

import TaglineConfig
import TaglineCore
import XCTest

@testable import TaglineIKE

final class IPv6IKETests: XCTestCase {
    private let addressA = IPAddress("2001:db8:100::1")!
    private let addressB = IPAddress("2001:db8:100::2")!

    /// Builds the configuration of gateway A or B. Entry 10 protects the IPv6
    /// networks and, with `withIPv4` set, entry 20 the IPv4 ones.
    private func config(gateway: String, withIPv4: Bool = false, keyringAny: Bool = false)
        -> String
    {
        let isA = gateway == "A"
        let own = isA ? "2001:db8:100::1" : "2001:db8:100::2"
        let peer = isA ? "2001:db8:100::2" : "2001:db8:100::1"
        let v6 = ["2001:db8:1::/64", "2001:db8:2::/64"]
        let v4 = ["192.0.2.0 0.0.0.255", "203.0.113.0 0.0.0.255"]
        let (local6, remote6) = isA ? (v6[0], v6[1]) : (v6[1], v6[0])
        let (local4, remote4) = isA ? (v4[0], v4[1]) : (v4[1], v4[0])
        var lines = [
            "crypto ikev2 proposal lab",
            " encryption aes-cbc-128",
            " integrity sha256",
            " group 19",
            "crypto ikev2 policy lab",
            " proposal lab",
            "crypto ikev2 keyring labkeys",
            " peer other",
            "  address \(keyringAny ? "::/0" : peer + "/128")",
            "  pre-shared-key lab-secret",
            "crypto ikev2 profile lab",
            " match identity remote address \(peer)/128",
            " authentication local pre-share",
            " authentication remote pre-share",
            " keyring local labkeys",
            "crypto ikev2 cts sgt",
            "crypto ipsec transform-set ts esp-gcm 128",
            "ipv6 access-list protect6",
            " permit ipv6 \(local6) \(remote6)",
            "ip access-list extended protect4",
            " permit ip \(local4) \(remote4)",
            "crypto map cmap 10 ipsec-isakmp",
            " set peer \(peer)",
            " set transform-set ts",
            " set ikev2-profile lab",
            " match address protect6",
        ]
        if withIPv4 {
            lines += [
                "crypto map cmap 20 ipsec-isakmp",
                " set peer \(peer)",
                " set transform-set ts",
                " set ikev2-profile lab",
                " match address protect4",
            ]
        }
        lines += ["interface out0", " ipv6 address \(own)/64", " ipv6 crypto map cmap"]
        return lines.joined(separator: "\n")
    }

    /// Builds a lab whose two gateways have the IPv6 outside addresses.
    private func lab(withIPv4: Bool = false, keyringAny: Bool = false) -> Lab {
        let lab = Lab(configA: LabConfig.text(gateway: "A"), configB: LabConfig.text(gateway: "B"))
        lab.a = Gateway(
            name: "A", address: addressA.description,
            config: config(gateway: "A", withIPv4: withIPv4),
            clock: { [unowned lab] in lab.now }, seed: 1, firstSPI: 0xA000_0001)
        lab.b = Gateway(
            name: "B", address: addressB.description,
            config: config(gateway: "B", withIPv4: withIPv4, keyringAny: keyringAny),
            clock: { [unowned lab] in lab.now }, seed: 2, firstSPI: 0xB000_0001)
        lab.b.engine.isPassive = true
        return lab
    }

    func testEstablishOverIPv6() throws {
        let lab = lab()
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(
            lab.transcript,
            [
                "A IKE_SA_INIT request 0", "B IKE_SA_INIT response 0",
                "A IKE_AUTH request 1", "B IKE_AUTH response 1",
            ])
        let statusA = try XCTUnwrap(lab.a.ready.first)
        let statusB = try XCTUnwrap(lab.b.ready.first)
        XCTAssertEqual(statusA.localAddress, addressA)
        XCTAssertEqual(statusA.remoteAddress, addressB)
        XCTAssertEqual(statusB.remoteAddress, addressA)
        XCTAssertEqual(statusA.localID, "2001:db8:100::1")
        XCTAssertEqual(statusB.localID, "2001:db8:100::2")
        XCTAssertFalse(statusA.natDetected, "NAT detection hashes of IPv6 endpoints must match")
        XCTAssertFalse(statusB.natDetected)
        XCTAssertEqual(statusA.localPort, 500)
        XCTAssertTrue(statusA.sgtEnabled)
        XCTAssertEqual(lab.a.problems, [])
        XCTAssertEqual(lab.b.problems, [])
    }

    func testIPv6Selectors() throws {
        let lab = lab()
        lab.a.engine.start()
        lab.run()
        let childA = try XCTUnwrap(lab.a.installed.first)
        let childB = try XCTUnwrap(lab.b.installed.first)
        let netA = TrafficSelector(prefix: IPPrefix("2001:db8:1::/64")!)
        let netB = TrafficSelector(prefix: IPPrefix("2001:db8:2::/64")!)
        XCTAssertEqual(childA.localSelectors, [netA])
        XCTAssertEqual(childA.remoteSelectors, [netB])
        XCTAssertEqual(childB.localSelectors, [netB])
        XCTAssertEqual(childB.remoteSelectors, [netA])
        XCTAssertEqual(childA.localAddress, addressA)
        XCTAssertEqual(childA.remoteAddress, addressB)
        XCTAssertNil(childA.udpEncapsulation)
        XCTAssertEqual(childA.outboundKeys, childB.inboundKeys)
        XCTAssertEqual(childA.outboundSPI, childB.inboundSPI)
        XCTAssertTrue(childA.taggingNegotiated)
    }

    func testIPv4InsideIPv6Outside() throws {
        let lab = lab(withIPv4: true)
        lab.a.engine.start()
        lab.run()
        XCTAssertEqual(lab.a.ready.count, 1, "crypto map entries to one peer share an IKE SA")
        XCTAssertEqual(lab.a.installed.count, 2)
        XCTAssertEqual(lab.b.installed.count, 2)
        let v4 = try XCTUnwrap(lab.a.installed.first { $0.localSelectors[0].startAddress.isIPv4 })
        XCTAssertEqual(v4.localSelectors, [TrafficSelector(prefix: IPPrefix("192.0.2.0/24")!)])
        XCTAssertEqual(v4.remoteSelectors, [TrafficSelector(prefix: IPPrefix("203.0.113.0/24")!)])
        XCTAssertEqual(v4.remoteAddress, addressB, "IPv4 inner traffic rides the IPv6 outer link")
        let v6 = try XCTUnwrap(lab.a.installed.first { !$0.localSelectors[0].startAddress.isIPv4 })
        XCTAssertEqual(v6.remoteAddress, addressB)
        XCTAssertEqual(lab.a.problems, [])
    }

    func testNATOverIPv6() throws {
        // A prefix translator in front of A maps 2001:db8:100::1 to 2001:db8:200::1
        // with new source ports.
        let inside = addressA
        let outside = IPAddress("2001:db8:200::1")!
        let lab = lab(keyringAny: true)
        lab.network = { datagram in
            var moved = datagram
            if datagram.local.address == inside {
                moved.local = IKEEndpoint(address: outside, port: 40000 + datagram.local.port)
            } else if datagram.remote.address == outside {
                moved.remote = IKEEndpoint(address: inside, port: datagram.remote.port - 40000)
            }
            return moved
        }
        lab.route = { datagram in datagram.remote.address == inside ? lab.a : lab.b }
        lab.a.engine.start()
        lab.run()
        let statusA = try XCTUnwrap(lab.a.ready.first)
        let statusB = try XCTUnwrap(lab.b.ready.first)
        XCTAssertTrue(statusA.natDetected)
        XCTAssertTrue(statusB.natDetected)
        XCTAssertEqual(statusA.localPort, 4500)
        XCTAssertEqual(statusB.remoteAddress, outside)
        XCTAssertEqual(statusB.remotePort, 44500)
        let childB = try XCTUnwrap(lab.b.installed.first)
        XCTAssertEqual(
            childB.udpEncapsulation, UDPEncapsulation(localPort: 4500, remotePort: 44500))
    }

    func testNATHashIPv6Layout() {
        // SHA-1 over SPIi | SPIr | 2001:db8:100::1 (16 bytes) | 4500, computed
        // with Python's hashlib.
        let hash = NATDetection.hash(
            initiatorSPI: 0x0102_0304_0506_0708, responderSPI: 0x1112_1314_1516_1718,
            address: addressA, port: 4500)
        XCTAssertEqual(Hex.encode(hash), "11403a56ced424baf2d8a7159802ba3bd1532641")
    }

    func testTSPayloadIPv6RoundTrip() throws {
        let selector = TrafficSelector(prefix: IPPrefix("2001:db8:1::/64")!)
        var writer = ByteWriter()
        TSPayload(selectors: [selector]).encodeBody(into: &writer)
        XCTAssertEqual(writer.bytes.count, 4 + 40)
        XCTAssertEqual(writer.bytes[4], 8, "TS_IPV6_ADDR_RANGE")
        XCTAssertEqual(Array(writer.bytes[6..<8]), [0, 40], "selector length")
        var reader = ByteReader(writer.bytes)
        XCTAssertEqual(try TSPayload.decodeBody(&reader).selectors, [selector])
    }
}
