// A gateway whose outside interface has only an IPv6 address: keyring,
// profile and crypto map peers in IPv6, an IPv6 and an IPv4 access list,
// and `ipv6 crypto map` on the interface.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class IPv6GatewayTests: XCTestCase {
    private let gateway = [
        "crypto ikev2 keyring keys",
        " peer gw2",
        "  address 2001:db8:100::2/128",
        "  pre-shared-key secret",
        "crypto ikev2 profile v6",
        " match identity remote address 2001:db8:100::2/128",
        " authentication local pre-share",
        " authentication remote pre-share",
        " keyring local keys",
        "crypto ipsec transform-set ts esp-gcm 128",
        "ipv6 access-list protect6",
        " permit ipv6 2001:db8:1::/64 2001:db8:2::/64",
        "ip access-list extended protect4",
        " permit ip 192.0.2.0 0.0.0.255 203.0.113.0 0.0.0.255",
        "crypto map cmap 10 ipsec-isakmp",
        " set peer 2001:db8:100::2",
        " set transform-set ts",
        " set ikev2-profile v6",
        " match address protect6",
        "crypto map cmap 20 ipsec-isakmp",
        " set peer 2001:db8:100::2",
        " set transform-set ts",
        " set ikev2-profile v6",
        " match address protect4",
        "interface in0",
        " ip address 192.0.2.1 255.255.255.0",
        " ipv6 address 2001:db8:1::1/64",
        "interface out0",
        " ipv6 address 2001:db8:100::1/64",
        " ipv6 crypto map cmap",
    ]

    func testOutsideIPv6() throws {
        let result = ConfigLoader.parse(text: gateway.joined(separator: "\n"))
        XCTAssertEqual(result.lines(.error), [], listing(result))
        let config = result.config
        let outside = try XCTUnwrap(config.interfaces["out0"])
        XCTAssertEqual(outside.cryptoMapName, "cmap")
        XCTAssertEqual(config.outsideInterfaces.map(\.name), ["out0"])
        XCTAssertNil(config.localAddress(of: outside, ipv4: true))
        XCTAssertEqual(config.localAddress(of: outside, ipv4: false), IPAddress("2001:db8:100::1"))

        let peer = IPAddress("2001:db8:100::2")!
        XCTAssertEqual(config.keyringPeer(for: peer, in: "keys")?.name, "gw2")
        XCTAssertEqual(config.profile(matchingRemote: peer)?.name, "v6")
        let entries = config.initiatorCryptoMapEntries(of: "cmap")
        XCTAssertEqual(entries.map(\.sequence), [10, 20])
        XCTAssertEqual(entries.map { $0.peers }, [[peer], [peer]])

        let v6 = try XCTUnwrap(config.accessLists["protect6"])
        XCTAssertTrue(v6.isIPv6)
        XCTAssertEqual(v6.entries.first?.source.prefix, IPPrefix("2001:db8:1::/64"))
        XCTAssertEqual(v6.entries.first?.destination.prefix, IPPrefix("2001:db8:2::/64"))
        XCTAssertEqual(config.accessLists["protect4"]?.isIPv6, false)
    }

    /// Builds a transform set, an IPv6 access list and a complete crypto map per name.
    private func maps(_ names: String...) -> [String] {
        var lines = [
            "crypto ipsec transform-set ts esp-gcm 128",
            "ipv6 access-list protect6",
            " permit ipv6 2001:db8:1::/64 2001:db8:2::/64",
        ]
        for name in names {
            lines += [
                "crypto map \(name) 10 ipsec-isakmp", " set peer 2001:db8:100::2",
                " set transform-set ts", " match address protect6",
            ]
        }
        return lines
    }

    private func parsed(after head: [String], _ lines: String...) -> ConfigLoadResult {
        ConfigLoader.parse(text: (head + lines).joined(separator: "\n"))
    }

    func testSameMapBothForms() {
        let result = parsed(
            after: maps("cmap"),
            "interface out0",
            " ip address 198.51.100.1 255.255.255.0",
            " ipv6 address 2001:db8:100::1/64",
            " crypto map cmap",
            " ipv6 crypto map cmap")
        XCTAssertEqual(result.lines(.error), [], listing(result))
        XCTAssertEqual(result.config.interfaces["out0"]?.cryptoMapName, "cmap")
        XCTAssertEqual(result.config.outsideInterfaces.map(\.name), ["out0"])
    }

    func testSecondMapRejected() {
        let result = parsed(
            after: maps("four", "six"),
            "interface out0",
            " crypto map four",
            " ipv6 crypto map six")
        XCTAssertEqual(result.lines(.error), [14], listing(result))
        XCTAssertTrue(result.errorMessage(0).contains("already has crypto map four"))
        XCTAssertEqual(result.config.interfaces["out0"]?.cryptoMapName, "four")
    }

    func testBrokenForms() {
        let result = parse(
            "interface out0",
            " ipv6 crypto",
            " ipv6 crypto mapp cmap",
            " ipv6 crypto map",
            " ipv6 crypto map cmap extra",
            " ipv6 crypto map missing")
        XCTAssertEqual(result.lines(.error), [2, 3, 4, 5, 6], listing(result))
        XCTAssertTrue(
            result.errors.contains { $0.message == "crypto map missing is not defined" },
            listing(result))
        XCTAssertNil(result.config.interfaces["out0"]?.cryptoMapName)
    }

    func testNoFormRemovesMap() {
        let result = parsed(
            after: maps("cmap"),
            "interface out0",
            " ipv6 crypto map cmap",
            " no ipv6 crypto map")
        XCTAssertEqual(result.lines(.error), [], listing(result))
        XCTAssertNil(result.config.interfaces["out0"]?.cryptoMapName)
    }
}
