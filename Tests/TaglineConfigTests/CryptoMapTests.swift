// Crypto map entries and IPsec profiles: settings, ordering, completeness and references.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class CryptoMapTests: XCTestCase {
    /// Definitions that the entries below refer to.
    private let base = [
        "crypto ikev2 keyring ring",
        "crypto ikev2 profile prof",
        " match identity remote address 0.0.0.0",
        " authentication local pre-share",
        " authentication remote pre-share",
        " keyring local ring",
        "crypto ipsec transform-set a esp-aes 256 esp-sha256-hmac",
        "crypto ipsec transform-set b esp-gcm 256",
        "ip access-list extended acl",
        " permit ip 192.0.2.0 0.0.0.255 203.0.113.0 0.0.0.255",
    ]

    private func parseWithBase(_ lines: String...) -> ConfigLoadResult {
        ConfigLoader.parse(text: (base + lines).joined(separator: "\n"))
    }

    func testEntriesSortedBySequence() throws {
        let result = parseWithBase(
            "crypto map cmap 20",
            " set peer 198.51.100.3",
            " set transform-set b",
            " match address acl",
            "crypto map cmap 10 ipsec-isakmp",
            " set peer 198.51.100.2",
            " set peer 198.51.100.4 default",
            " set transform-set a b",
            " set ikev2-profile prof",
            " match address acl",
            " set pfs group14",
            " set security-association lifetime seconds 1800",
            " set security-association lifetime kilobytes 102400",
            " set security-association idle-time 600",
            " reverse-route")
        XCTAssertEqual(result.lines(.error), [], listing(result))
        XCTAssertEqual(result.lines(.ignored), [24, 25])
        let entries = try XCTUnwrap(result.config.cryptoMaps["cmap"])
        XCTAssertEqual(entries.map { $0.sequence }, [10, 20])
        guard entries.count == 2 else { return XCTFail("expected two entries") }
        let first = entries[0]
        XCTAssertEqual(first.peers, [IPAddress("198.51.100.2")!, IPAddress("198.51.100.4")!])
        XCTAssertEqual(first.transformSetNames, ["a", "b"])
        XCTAssertEqual(first.pfsGroup, .modp2048)
        XCTAssertEqual(
            result.config.lifetime(of: first),
            SALifetime(seconds: 1800, kilobytes: 102_400))
        XCTAssertEqual(result.config.allCryptoMapEntries.map { $0.sequence }, [10, 20])
    }

    func testGlobalLifetimeIsTheDefault() throws {
        let result = parseWithBase(
            "crypto ipsec security-association lifetime seconds 7200",
            "crypto map cmap 10",
            " set peer 198.51.100.2",
            " set transform-set a",
            " match address acl")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        let entry = try XCTUnwrap(result.config.cryptoMaps["cmap"]?.first)
        XCTAssertEqual(
            result.config.lifetime(of: entry),
            SALifetime(seconds: 7200, kilobytes: 4_608_000))
    }

    func testUndefinedNamesReported() {
        let result = parseWithBase(
            "crypto map cmap 10",
            " set peer 198.51.100.2",
            " set transform-set a missing-ts",
            " set ikev2-profile missing-prof",
            " match address missing-acl",
            "interface out0",
            " crypto map missing-map")
        let errors = result.errors.map { $0.message }
        XCTAssertEqual(result.lines(.error), [11, 13, 14, 15, 17], listing(result))
        XCTAssertTrue(errors.contains("transform set missing-ts is not defined"))
        XCTAssertTrue(errors.contains("ikev2 profile missing-prof is not defined"))
        XCTAssertTrue(errors.contains("access list missing-acl is not defined"))
        XCTAssertTrue(errors.contains("crypto map missing-map is not defined"))
        XCTAssertTrue(errors.contains("crypto map cmap 10 is incomplete: no 'match address'"))
        XCTAssertNil(result.config.cryptoMaps["cmap"], "the entry lost its ACL and was rejected")
        XCTAssertNil(result.config.interfaces["out0"]?.cryptoMapName)
    }

    func testIncompleteEntryRejectsInterfaceReference() {
        let result = parseWithBase(
            "crypto map cmap 10",
            " set transform-set a",
            " match address acl",
            "interface out0",
            " crypto map cmap")
        XCTAssertEqual(result.lines(.error), [11, 15], listing(result))
        XCTAssertEqual(result.errorMessage(0), "crypto map cmap 10 is incomplete: no 'set peer'")
        XCTAssertEqual(result.errorMessage(1), "crypto map cmap was rejected at line 11")
        XCTAssertEqual(result.config.outsideInterfaces, [])
    }

    func testManualEntriesIgnored() {
        let result = parseWithBase(
            "crypto map cmap 20 ipsec-manual",
            " set peer 198.51.100.2",
            "crypto map cmap local-address out0")
        XCTAssertEqual(result.lines(.ignored), [11, 12, 13], listing(result))
        XCTAssertEqual(result.lines(.error), [], listing(result))
        XCTAssertNil(result.config.cryptoMaps["cmap"])
    }

    func testIPsecProfile() throws {
        let result = parseWithBase(
            "crypto ipsec profile vti",
            " set transform-set b a",
            " set ikev2-profile prof",
            " set pfs group19",
            " set security-association lifetime seconds 900",
            "crypto ipsec profile empty",
            " set ikev2-profile prof",
            "interface Tunnel0",
            " ip unnumbered out0",
            " tunnel source out0",
            " tunnel destination 198.51.100.2",
            " tunnel mode ipsec ipv4",
            " tunnel protection ipsec profile empty",
            "interface out0",
            " ip address 198.51.100.1 255.255.255.0")
        XCTAssertEqual(result.lines(.error), [16, 23], listing(result))
        XCTAssertEqual(result.errorMessage(1), "ipsec profile empty was rejected at line 16")
        let profile = try XCTUnwrap(result.config.ipsecProfiles["vti"])
        XCTAssertEqual(profile.transformSetNames, ["b", "a"])
        XCTAssertEqual(profile.ikev2ProfileName, "prof")
        XCTAssertEqual(profile.pfsGroup, .ecp256)
        XCTAssertEqual(result.config.lifetime(of: profile).seconds, 900)

        let tunnel = try XCTUnwrap(result.config.interfaces["Tunnel0"])
        XCTAssertEqual(tunnel.tunnelSource, .interface("out0"))
        XCTAssertEqual(tunnel.tunnelDestination, IPAddress("198.51.100.2"))
        XCTAssertNil(tunnel.tunnelProtectionProfile)
        XCTAssertEqual(
            result.config.localAddress(of: tunnel, ipv4: true), IPAddress("198.51.100.1"))
        XCTAssertEqual(result.config.outsideInterfaces.map { $0.name }, ["out0"])
    }

    func testInvalidSetLines() {
        let result = parseWithBase(
            "crypto map cmap 10",
            " set peer gw2.example",
            " set pfs",
            " set pfs group24",
            " set security-association lifetime seconds 60",
            " set",
            " match address",
            " set peer 198.51.100.2",
            " set transform-set a",
            " match address acl")
        XCTAssertEqual(result.lines(.error), [12, 13, 14, 15, 16, 17], listing(result))
        XCTAssertEqual(result.config.cryptoMaps["cmap"]?.first?.pfsGroup, nil)
    }
}
