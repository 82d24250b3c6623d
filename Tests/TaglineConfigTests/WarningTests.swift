// Values that IOS rejects, lines that replace an earlier line's value, and the
// counts that summarise a load.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class WarningTests: XCTestCase {
    func testSGTPlusSignRejected() {
        let result = parse(
            "cts role-based sgt-map 192.0.2.7 sgt +5",
            "cts role-based sgt-map 192.0.2.8 sgt 5")
        XCTAssertEqual(result.lines(.error), [1], listing(result))
        XCTAssertEqual(
            result.errorMessage(0), "SGT '+5' is not a plain decimal number (expected 1-65534)")
        XCTAssertEqual(result.config.sgtBindings.map { $0.line }, [2])
    }

    func testLeadingZeroOctetsRejected() {
        let lines = [
            "cts role-based sgt-map 01.2.3.4 sgt 5",
            "cts role-based sgt-map host 192.0.2.010 sgt 5",
            "cts role-based sgt-map ::ffff:192.0.2.01 sgt 5",
            "ip route 010.0.0.0 255.0.0.0 198.51.100.1",
            "ip route 10.0.0.0 255.0.0.0 198.51.100.01",
            "ip route 10.0.0.0 255.000.0.0 198.51.100.1",
        ]
        for text in lines {
            let result = parse(text)
            XCTAssertEqual(result.lines(.error), [1], "\(text): \(listing(result))")
            XCTAssertTrue(
                result.errorMessage(0).contains("an octet has a leading zero"),
                "\(text): \(result.errorMessage(0))")
        }
        let valid = parse(
            "cts role-based sgt-map 0.0.0.0/0 sgt 5", "cts role-based sgt-map 10.0.0.0/8 sgt 6",
            "cts role-based sgt-map 2001:0db8::1 sgt 7")
        XCTAssertEqual(valid.diagnostics, [], listing(valid))
    }

    func testLeadingZeroInBlocksRejected() {
        let result = parse(
            "ip access-list extended acl",
            " permit ip 192.0.2.01 0.0.0.255 any",
            "crypto ikev2 keyring ring",
            " peer a",
            "  address 198.51.100.02",
            "interface out0",
            " ip address 198.51.100.1 255.255.255.00")
        XCTAssertEqual(result.lines(.error).filter { $0 != 4 }, [2, 5, 7], listing(result))
    }

    func testInterfaceMaskZeroRejected() {
        let result = parse(
            "interface out0",
            " ip address 198.51.100.1 0.0.0.0",
            " ipv6 address 2001:db8::1/0",
            " ip address 198.51.100.1 255.255.255.0")
        XCTAssertEqual(result.lines(.error), [2, 3], listing(result))
        XCTAssertEqual(
            result.errorMessage(0),
            "invalid mask 0.0.0.0 for interface address 198.51.100.1 "
                + "(expected a mask such as 255.255.255.0)")
        XCTAssertEqual(
            result.config.interfaces["out0"]?.ipv4Addresses.map { $0.description },
            ["198.51.100.1/24"])
        XCTAssertEqual(result.config.interfaces["out0"]?.ipv6Addresses, [])
    }

    func testReplacedSGTMapWarns() {
        let result = parse(
            "cts role-based sgt-map 192.0.2.2 sgt 333",
            "cts role-based sgt-map 192.0.2.0/24 sgt 100",
            "cts role-based sgt-map 192.0.2.2 sgt 334",
            "cts role-based sgt-map 192.0.2.0/24 sgt 100")
        XCTAssertEqual(result.lines(.warning), [3], listing(result))
        XCTAssertEqual(result.lines(.error), [])
        XCTAssertEqual(
            result.warnings.first?.message,
            "replaces SGT 333 for 192.0.2.2/32 from line 1 with SGT 334, as IOS does; "
                + "remove one of the two lines")
        XCTAssertEqual(result.config.sgtBindings.map { $0.sgt.value }, [334, 100])
        XCTAssertFalse(result.hasErrors)
    }

    func testReplacedPeerAddressWarns() {
        let result = parse(
            "crypto ikev2 keyring ring",
            " peer a",
            "  address 198.51.100.2",
            "  pre-shared-key k",
            " peer a",
            "  address 198.51.100.9 255.255.255.255",
            " peer b",
            "  address 198.51.100.9",
            "  pre-shared-key k",
            " peer c",
            "  address 198.51.100.2 255.255.255.255",
            "  address 198.51.100.2")
        XCTAssertEqual(result.lines(.warning), [6, 8], listing(result))
        XCTAssertEqual(result.lines(.error), [10], listing(result))
        XCTAssertEqual(
            result.warnings.first?.message,
            "replaces address 198.51.100.2/32 of peer a in ikev2 keyring ring from line 3; "
                + "remove one of the two lines")
        XCTAssertEqual(
            result.warnings.last?.message,
            "peer b of ikev2 keyring ring has the same address 198.51.100.9/32 as peer a "
                + "at line 6, so peer a is always used for it")
        let peer = result.config.keyringPeer(for: IPAddress("198.51.100.9")!, in: "ring")
        XCTAssertEqual(peer?.name, "a")
    }

    func testReplacedInterfaceAddressWarns() {
        let result = parse(
            "interface out0",
            " ip address 198.51.100.1 255.255.255.0",
            " ip address 203.0.113.1 255.255.255.0 secondary",
            " ip address 198.51.100.1 255.255.255.0",
            "interface out0",
            " ip address 198.51.100.7 255.255.255.0",
            " no ip address",
            " ip address 198.51.100.8 255.255.255.0")
        XCTAssertEqual(result.lines(.warning), [6], listing(result))
        XCTAssertTrue(
            result.warnings.first?.message.contains("198.51.100.1/24") ?? false, listing(result))
        XCTAssertTrue(result.warnings.first?.message.contains("line 4") ?? false, listing(result))
        XCTAssertEqual(
            result.config.interfaces["out0"]?.ipv4Addresses.map { $0.description },
            ["198.51.100.8/24"])
    }

    func testKindsCountedSeparately() {
        let result = parse(
            "cts role-based sgt-map 192.0.2.2 sgt 333",
            "cts role-based sgt-map 192.0.2.2 sgt 334",
            "frobnicate",
            "logging buffered")
        XCTAssertEqual(result.errors.map { $0.line }, [3])
        XCTAssertEqual(result.warnings.map { $0.line }, [2])
        XCTAssertEqual(result.ignored.map { $0.line }, [4])
        XCTAssertEqual(result.summary, "1 error, 1 warning, 1 ignored line")
        XCTAssertEqual(
            result.warnings.first?.description,
            "line 2: warning: replaces SGT 333 for 192.0.2.2/32 from line 1 with SGT 334, "
                + "as IOS does; remove one of the two lines "
                + "(cts role-based sgt-map 192.0.2.2 sgt 334)")
    }

    func testSummaryPlurals() {
        func diagnostics(_ kind: ConfigDiagnostic.Kind, _ count: Int) -> [ConfigDiagnostic] {
            (0..<count).map { ConfigDiagnostic(line: $0 + 1, kind: kind, text: "x", message: "m") }
        }
        let many = ConfigLoadResult(
            config: GatewayConfig(),
            diagnostics: diagnostics(.error, 3) + diagnostics(.warning, 1)
                + diagnostics(.ignored, 12))
        XCTAssertEqual(many.summary, "3 errors, 1 warning, 12 ignored lines")
        let none = ConfigLoadResult(config: GatewayConfig(), diagnostics: [])
        XCTAssertEqual(none.summary, "0 errors, 0 warnings, 0 ignored lines")
        let two = ConfigLoadResult(config: GatewayConfig(), diagnostics: diagnostics(.warning, 2))
        XCTAssertEqual(two.summary, "0 errors, 2 warnings, 0 ignored lines")
    }
}
