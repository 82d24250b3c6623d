// How lines find their configuration mode: sub-mode first, then the parent
// modes; ignored and rejected blocks; banners; `end`.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class ParserModeTests: XCTestCase {
    func testSubModeCommandAtColumnZero() {
        let result = parse(
            "crypto ikev2 proposal p",
            "encryption aes-cbc-128",
            "integrity sha1",
            "group 14",
            "crypto ikev2 cts sgt")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(result.config.ikev2Proposals["p"]?.groups, [.modp2048])
        XCTAssertTrue(result.config.ctsSGTEnabled)
    }

    func testGlobalCommandLeavesIndentedBlock() {
        let result = parse(
            "interface out0",
            " ip address 198.51.100.1 255.255.255.0",
            " cts role-based sgt-map 192.0.2.0/24 sgt 5",
            " ip access-list extended acl",
            " permit ip any any")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(result.config.sgtBindings.count, 1)
        XCTAssertEqual(result.config.accessLists["acl"]?.entries.count, 1)
    }

    func testKeyringPeerFallsBackToKeyring() {
        let result = parse(
            "crypto ikev2 keyring ring",
            "peer a",
            "address 198.51.100.2",
            "pre-shared-key one",
            "peer b",
            "address 198.51.100.3",
            "pre-shared-key two")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(result.config.keyrings["ring"]?.peers.map { $0.name }, ["a", "b"])
    }

    func testUnimplementedBlockSubLinesIgnoredOnce() {
        let result = parse(
            "line vty 0 4",
            " login",
            " transport input ssh",
            "transport output none",
            "router ospf 1",
            " network 192.0.2.0 0.0.0.255 area 0",
            "crypto ikev2 cts sgt",
            "hostname gw1")
        XCTAssertEqual(result.lines(.ignored), [1, 2, 3, 4, 5, 6, 8], listing(result))
        XCTAssertEqual(result.lines(.error), [])
        XCTAssertTrue(result.config.ctsSGTEnabled)
    }

    func testRejectedBlockSubLinesNotApplied() {
        let result = parse(
            "crypto ikev2 profile bad name here",
            " lifetime 600",
            "crypto map cmap 0 ipsec-isakmp",
            " set peer 198.51.100.2",
            "crypto ikev2 cts sgt")
        XCTAssertEqual(result.lines(.error), [1, 3], listing(result))
        XCTAssertEqual(result.lines(.ignored), [2, 4])
        XCTAssertEqual(
            result.ignoredMessage(0),
            "not applied because the block at line 1 was rejected")
        XCTAssertTrue(result.config.ikev2Profiles.isEmpty)
        XCTAssertTrue(result.config.cryptoMaps.isEmpty)
        XCTAssertTrue(result.config.ctsSGTEnabled)
    }

    func testUnknownLineInCryptoModeKeepsMode() {
        let result = parse(
            "crypto ikev2 proposal p",
            " encryptoin aes-cbc-128",
            " encryption aes-cbc-128",
            " integrity sha1",
            " group 14")
        XCTAssertEqual(result.lines(.error), [2], listing(result))
        XCTAssertEqual(
            result.errorMessage(0),
            "unknown command in ikev2 proposal p mode or global mode")
        XCTAssertEqual(result.config.ikev2Proposals["p"]?.isComplete, true)
    }

    func testUnknownInterfaceCommandIgnored() {
        let result = parse(
            "interface out0",
            " negotiation auto",
            " no cdp enable",
            " ip nat outside",
            " crypto map cmap",
            " ip address 198.51.100.1 255.255.255.0")
        XCTAssertEqual(result.lines(.ignored), [2, 3, 4], listing(result))
        XCTAssertEqual(result.config.interfaces["out0"]?.ipv4Addresses.count, 1)
    }

    func testUnknownGlobalCommandIsError() {
        let result = parse("frobnicate everything", "ip route")
        XCTAssertEqual(result.lines(.error), [1, 2], listing(result))
        XCTAssertEqual(result.errorMessage(0), "unknown command")
    }

    func testBannerTextNotParsed() {
        let result = parse(
            "banner motd ^C",
            "crypto ikev2 cts sgt",
            "",
            "Authorized access only ^C",
            "banner login #one line#",
            "crypto ipsec inline-tagging next-header 250")
        XCTAssertEqual(result.lines(.ignored), [1, 2, 4, 5], listing(result))
        XCTAssertFalse(result.config.ctsSGTEnabled, "the banner text is not a command")
        XCTAssertEqual(result.config.cmdNextHeader, 250)
    }

    func testEndStopsReading() {
        let result = parse(
            "crypto ikev2 cts sgt",
            "end",
            "!",
            "crypto ipsec inline-tagging next-header 250",
            "garbage")
        XCTAssertEqual(result.lines(.ignored), [4], listing(result))
        XCTAssertEqual(result.lines(.error), [])
        XCTAssertEqual(result.config.cmdNextHeader, 253)
    }

    func testExitReturnsToParentMode() {
        let result = parse(
            "crypto ikev2 keyring ring",
            " peer a",
            "  address 198.51.100.2",
            "  pre-shared-key k",
            "  exit",
            " peer b",
            "  address 198.51.100.3",
            "  pre-shared-key k",
            " exit",
            "exit")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(result.config.keyrings["ring"]?.peers.count, 2)
    }

    func testKeywordsAreCaseInsensitive() {
        let result = parse(
            "CRYPTO IKEV2 CTS SGT",
            "Interface Out0",
            " IP Address 198.51.100.1 255.255.255.0")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertTrue(result.config.ctsSGTEnabled)
        XCTAssertEqual(result.config.interfaceOrder, ["Out0"], "names keep their case")
    }

    func testNoCTSSGTTurnsTaggingOff() {
        let result = parse("crypto ikev2 cts sgt", "no crypto ikev2 cts sgt")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertFalse(result.config.ctsSGTEnabled)
    }

    func testInlineTaggingNextHeader() {
        let result = parse(
            "crypto ipsec inline-tagging next-header 254",
            "crypto ipsec inline-tagging next-header 4",
            "crypto ipsec inline-tagging next-header 0",
            "crypto ipsec inline-tagging 99")
        XCTAssertEqual(result.lines(.error), [2, 3, 4], listing(result))
        XCTAssertTrue(result.errorMessage(0).contains("IPv4"), result.errorMessage(0))
        XCTAssertEqual(result.config.cmdNextHeader, 254)
    }
}
