// Broken, hostile and large inputs: each gives diagnostics and never a crash.

import Foundation
import TaglineCore
import XCTest

@testable import TaglineConfig

final class BrokenInputTests: XCTestCase {
    func testUnknownTransformRejected() {
        let result = parse(
            "crypto ipsec transform-set bad esp-blowfish esp-sha-hmac",
            " mode tunnel",
            "crypto ikev2 cts sgt")
        XCTAssertEqual(result.lines(.error), [1], listing(result))
        XCTAssertTrue(result.errorMessage(0).contains("esp-blowfish"), result.errorMessage(0))
        XCTAssertNil(result.config.transformSets["bad"])
        // The sub-line of the rejected block is reported but not applied.
        XCTAssertEqual(result.lines(.ignored), [2])
        XCTAssertTrue(result.ignoredMessage(0).contains("line 1"), result.ignoredMessage(0))
        // The rest of the file still applies.
        XCTAssertTrue(result.config.ctsSGTEnabled)
    }

    func testUnsupportedGroupRejected() {
        let result = parse(
            "crypto ikev2 proposal p",
            " encryption aes-cbc-256",
            " integrity sha1",
            " group 7",
            " group 14")
        XCTAssertEqual(result.lines(.error), [4], listing(result))
        XCTAssertEqual(
            result.errorMessage(0),
            "DH group '7' is invalid or not supported (supported: 2 5 14 15 19 20 21 31)")
        XCTAssertEqual(result.config.ikev2Proposals["p"]?.groups, [.modp2048])
    }

    func testMissingKeywordsRejected() {
        let result = parse(
            "crypto ikev2 profile prof",
            " match identity remote 198.51.100.2",
            " match identity remote address 198.51.100.2",
            " authentication local",
            " authentication local pre-share",
            " authentication remote pre-share",
            " keyring local",
            " keyring local ring",
            "crypto ikev2 keyring ring",
            " peer gw",
            "  address 198.51.100.2",
            "  pre-shared-key",
            "  pre-shared-key secret",
            "crypto map cmap",
            "crypto ikev2 proposal")
        XCTAssertEqual(result.lines(.error), [2, 4, 7, 12, 14, 15], listing(result))
        XCTAssertEqual(result.errorMessage(1), "missing authentication method")
        XCTAssertEqual(result.errorMessage(2), "missing keyring name")
        XCTAssertEqual(result.errorMessage(3), "missing pre-shared key")
        XCTAssertEqual(result.errorMessage(4), "missing sequence number")
        XCTAssertEqual(result.errorMessage(5), "missing proposal name")
        XCTAssertNotNil(result.config.ikev2Profiles["prof"], "the valid lines still apply")
    }

    func testGarbageBytesRejectedPerLine() {
        var bytes = Array("crypto ikev2 cts sgt\n".utf8)
        bytes += [0xFF, 0xFE, 0x00, 0x41, 0x0A]
        bytes += [0x1B, 0x5B, 0x32, 0x4A, 0x0A]
        bytes += Array("interface out0\n ip address 198.51.100.1 255.255.255.0\n".utf8)
        bytes += Array("%%%% ??? \u{7F}\n".utf8)
        let result = ConfigLoader.parse(bytes: bytes)
        XCTAssertEqual(result.lines(.error), [2, 3, 6], listing(result))
        XCTAssertTrue(result.config.ctsSGTEnabled)
        XCTAssertEqual(result.config.interfaces["out0"]?.ipv4Addresses.count, 1)
    }

    func testEmptyInputGivesDefaults() {
        for text in ["", "\n\n", "!\n! comment\n", "end\n", "   \n\t\n"] {
            let result = ConfigLoader.parse(text: text)
            XCTAssertEqual(result.diagnostics, [], "input \(text.debugDescription)")
            XCTAssertEqual(result.config, GatewayConfig(), "input \(text.debugDescription)")
        }
    }

    func testTenThousandLines() {
        var lines = ["ip access-list extended big"]
        for index in 0..<5000 {
            let third = index / 250
            let fourth = index % 250 + 1
            lines.append(" permit udp host 192.0.\(third).\(fourth) any eq \(1000 + index)")
        }
        for index in 0..<4998 {
            lines.append(
                "cts role-based sgt-map 10.\(index / 250).\(index % 250).0/24 sgt \(index + 1)")
        }
        lines.append("bogus command here")
        XCTAssertEqual(lines.count, 10000)
        let result = ConfigLoader.parse(text: lines.joined(separator: "\n"))
        XCTAssertEqual(result.lines(.error), [10000], listing(result))
        XCTAssertEqual(result.config.accessLists["big"]?.entries.count, 5000)
        XCTAssertEqual(result.config.sgtBindings.count, 4998)
        XCTAssertEqual(result.config.accessLists["big"]?.trafficSelectors().count, 5000)
    }

    func testHugeNumbersDoNotTrap() {
        let result = parse(
            "crypto map cmap 99999999999999999999999 ipsec-isakmp",
            "crypto ikev2 profile prof",
            " lifetime 18446744073709551616",
            " dpd -1 2 periodic",
            "crypto ipsec inline-tagging next-header 256",
            "ip access-list extended a",
            " permit tcp any eq 65536 any",
            " permit 300 any any",
            "cts role-based sgt-map 192.0.2.0/4294967296 sgt 1",
            "cts role-based sgt-map 192.0.2.0/24 sgt -5")
        // Line 2 is reported too: the profile has no match statement left.
        XCTAssertEqual(result.lines(.error), [1, 2, 3, 4, 5, 7, 8, 9, 10], listing(result))
    }

    func testUnreadableFileThrows() {
        let missing = "/nonexistent/tagline-config-test.cfg"
        XCTAssertThrowsError(try ConfigLoader.load(path: missing)) { error in
            guard case ConfigLoadError.unreadable(let path, let reason)? = error as? ConfigLoadError
            else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(path, missing)
            XCTAssertTrue(reason.contains("No such file"), reason)
        }
        XCTAssertThrowsError(try ConfigLoader.load(path: NSTemporaryDirectory()))
    }

    func testFileReadMatchesTextParse() throws {
        let path = NSTemporaryDirectory() + "tagline-config-\(getpid()).cfg"
        let text = "crypto ikev2 cts sgt\r\ncrypto ipsec inline-tagging next-header 254\r\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let result = try ConfigLoader.load(path: path)
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertTrue(result.config.ctsSGTEnabled)
        XCTAssertEqual(result.config.cmdNextHeader, 254)
    }
}
