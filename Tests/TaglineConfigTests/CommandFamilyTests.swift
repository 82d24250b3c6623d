// Mistyped and cut-short commands of the families Tagline implements are errors,
// while known IOS commands that Tagline does not implement stay ignored.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class CommandFamilyTests: XCTestCase {
    func testTypoFileIsError() {
        let result = parse(
            "crypto ikev2 ctss sgt",
            "cts role-based sgt-mapp 192.0.2.1 sgt 5")
        XCTAssertEqual(result.lines(.error), [1, 2], listing(result))
        XCTAssertEqual(result.lines(.ignored), [], listing(result))
        XCTAssertEqual(
            result.errorMessage(0),
            "unknown command 'crypto ikev2 ctss' (expected proposal, policy, keyring, "
                + "profile, cts, cookie-challenge or fragmentation after 'crypto ikev2')")
        XCTAssertEqual(
            result.errorMessage(1),
            "unknown command 'cts role-based sgt-mapp' (expected sgt-map after 'cts role-based')")
        XCTAssertFalse(result.config.ctsSGTEnabled)
        XCTAssertEqual(result.config.sgtBindings, [])
    }

    func testCutShortLinesIncomplete() {
        let lines = [
            "crypto", "crypto ikev2", "crypto ikev2 cts", "crypto ipsec",
            "crypto ipsec security-association", "crypto ipsec inline-tagging", "cts",
            "cts role-based", "ip access-list", "access-list", "no crypto ikev2",
        ]
        for text in lines {
            let result = parse(text)
            XCTAssertEqual(result.lines(.error), [1], "\(text): \(listing(result))")
            XCTAssertTrue(
                result.errorMessage(0).hasPrefix("incomplete command '"),
                "\(text): \(result.errorMessage(0))")
        }
    }

    func testMistypedKeywordsUnknown() {
        let lines = [
            "crypto ikev2 propsal p", "crypto ikev2 cts sgtx",
            "crypto ipsec transform-sett ts esp-aes",
            "crypto ipsec security-association lifetim seconds 600", "crypto ipsec profil vti",
            "crypto ipsec inline-tagging nextheader 250", "crypto ikve2 proposal p",
            "cts role-base sgt-map 192.0.2.1 sgt 5", "cts r s 192.0.2.41 sgt 41",
            "ip access-list extende acl", "access-list abc permit ip any any",
            "access-list 101 permitt ip any any", "no crypto ikev2 ctss sgt",
            "crypto map cmap 10 ipsec-isakmpp",
        ]
        for text in lines {
            let result = parse(text)
            XCTAssertEqual(result.lines(.error), [1], "\(text): \(listing(result))")
            XCTAssertTrue(
                result.errorMessage(0).hasPrefix("unknown command '"),
                "\(text): \(result.errorMessage(0))")
        }
    }

    func testKnownUnimplementedIgnored() {
        let lines = [
            "crypto ikev2 dpd 10 2 on-demand", "crypto ikev2 nat keepalive 20",
            "crypto ikev2 limit max-sa 100", "crypto ikev2 diagnose error 50",
            "crypto pki trustpoint tp", "crypto isakmp policy 10", "crypto keyring v1ring",
            "crypto ipsec df-bit clear", "crypto ipsec security-association idle-time 600",
            "cts role-based enforcement", "cts role-based permissions from 10 to 20 acl",
            "cts role-based sgt-map vrf blue 192.0.2.0/24 sgt 10", "ip access-list standard std",
            "access-list 10 permit any", "access-list compiled", "crypto map cmap 20 ipsec-manual",
            "crypto map cmap local-address out0", "no crypto ipsec df-bit clear",
            "ip route vrf blue 0.0.0.0 0.0.0.0 198.51.100.1",
        ]
        for text in lines {
            let result = parse(text)
            XCTAssertEqual(result.lines(.ignored), [1], "\(text): \(listing(result))")
            XCTAssertEqual(result.lines(.error), [], "\(text): \(listing(result))")
        }
    }

    func testLinesUnderInvalidHeaderSkipped() {
        let result = parse(
            "crypto ikev2",
            " proposal lab",
            "  encryption aes-cbc-128",
            "crypto ikev2 propos lab",
            " integrity sha256",
            "crypto ikev2 cts sgt")
        XCTAssertEqual(result.lines(.error), [1, 4], listing(result))
        XCTAssertEqual(result.lines(.ignored), [2, 3, 5], listing(result))
        XCTAssertEqual(
            result.ignoredMessage(0), "not applied because the block at line 1 was rejected")
        XCTAssertEqual(
            result.ignoredMessage(2), "not applied because the block at line 4 was rejected")
        XCTAssertEqual(result.config.ikev2Proposals, [:])
        XCTAssertTrue(result.config.ctsSGTEnabled)
    }

    func testInvalidLineKeepsInterfaceMode() {
        let result = parse(
            "interface out0",
            " crypto",
            " ip adress 198.51.100.1 255.255.255.0",
            " cts role-based sgt-mapp 192.0.2.1 sgt 5",
            " cts",
            " ip address 198.51.100.1 255.255.255.0",
            " cts manual",
            " duplex auto",
            " frobnicate",
            " no frobnicate",
            " ip nat outside")
        XCTAssertEqual(result.lines(.error), [2, 3, 4, 5, 9, 10], listing(result))
        XCTAssertEqual(result.lines(.ignored), [7, 8, 11], listing(result))
        XCTAssertEqual(
            result.errorMessage(0), "incomplete command 'crypto' (expected map after it)")
        XCTAssertEqual(
            result.errorMessage(1),
            "unknown command 'ip adress' (expected address or unnumbered after 'ip')")
        XCTAssertEqual(
            result.errorMessage(4), "unknown command in interface out0 mode or global mode")
        XCTAssertEqual(result.config.interfaces["out0"]?.ipv4Addresses.count, 1)
    }

    func testTunnelAndIPv6Families() {
        let result = parse(
            "interface Tunnel0",
            " tunnel",
            " tunnel mode",
            " tunnel mode ipsec",
            " tunnel mode ipsec ipv5",
            " tunnel mod ipsec ipv4",
            " tunnel mode gre ip",
            " tunnel key 5",
            " ipv6",
            " ipv6 adress 2001:db8::1/64",
            " ipv6 address",
            " ipv6 address autoconfig",
            " tunnel mode ipsec ipv4")
        XCTAssertEqual(result.lines(.error), [2, 3, 4, 5, 6, 9, 10, 11], listing(result))
        XCTAssertEqual(result.lines(.ignored), [7, 8, 12], listing(result))
        XCTAssertEqual(result.config.interfaces["Tunnel0"]?.tunnelMode, .ipsecIPv4)
    }

    func testGlobalLinesAfterInterfaceIgnored() {
        let result = parse(
            "interface out0",
            " ip address 198.51.100.1 255.255.255.0",
            "ip forward-protocol nd",
            "no ip http server",
            "no service pad",
            "ipv6 unicast-routing")
        XCTAssertEqual(result.lines(.ignored), [3, 4, 5, 6], listing(result))
        XCTAssertEqual(result.lines(.error), [], listing(result))
    }

    func testSetAndIdentityForms() {
        let result = parse(
            "crypto ipsec profile vti",
            " set transform-sett ts",
            " set security-association",
            " set security-association replay window-size 64",
            " set security-association lifetim seconds 900",
            " set isakmp-profile v1",
            "crypto ikev2 keyring ring",
            " peer a",
            "  identity",
            "  identity fqdn gw2.example",
            "  identity adress 198.51.100.2",
            "crypto ikev2 profile prof",
            " identity local",
            " identity local fqdn gw1.example",
            " identity local adress 198.51.100.1")
        XCTAssertEqual(
            result.lines(.error).filter { ![1, 8, 12].contains($0) }, [2, 3, 5, 9, 11, 13, 15],
            listing(result))
        XCTAssertEqual(result.lines(.ignored), [4, 6, 10, 14], listing(result))
    }
}
