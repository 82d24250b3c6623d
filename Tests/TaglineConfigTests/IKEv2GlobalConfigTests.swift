// `crypto ikev2 cookie-challenge N` and `crypto ikev2 fragmentation [mtu N]`.

import XCTest

@testable import TaglineConfig

final class IKEv2GlobalConfigTests: XCTestCase {
    func testDefaultsLeaveEngineChoice() {
        let result = parse("hostname gw")
        XCTAssertNil(result.config.cookieChallenge)
        XCTAssertNil(result.config.ikeFragmentationMTU)
    }

    func testCookieChallenge() {
        for threshold in [1, 50, 1000] {
            let result = parse("crypto ikev2 cookie-challenge \(threshold)")
            XCTAssertEqual(result.diagnostics, [], listing(result))
            XCTAssertEqual(result.config.cookieChallenge, threshold)
        }
    }

    func testFragmentation() {
        let plain = parse("crypto ikev2 fragmentation")
        XCTAssertEqual(plain.diagnostics, [], listing(plain))
        XCTAssertNil(plain.config.ikeFragmentationMTU)

        let sized = parse("crypto ikev2 fragmentation mtu 1400")
        XCTAssertEqual(sized.diagnostics, [], listing(sized))
        XCTAssertEqual(sized.config.ikeFragmentationMTU, 1400)
    }

    func testInvalidLinesRejected() {
        let rows: [(line: String, message: String)] = [
            (
                "crypto ikev2 cookie-challenge 0",
                "invalid cookie-challenge threshold '0' (expected 1-1000)"
            ),
            ("crypto ikev2 cookie-challenge", "missing cookie-challenge threshold"),
            (
                "crypto ikev2 fragmentation mtu 60",
                "invalid fragmentation mtu '60' (expected 68-1500)"
            ),
            ("crypto ikev2 fragmentation mtu", "missing fragmentation mtu"),
            (
                "crypto ikev2 fragmentation size 900",
                "unknown command 'crypto ikev2 fragmentation size' (expected mtu after "
                    + "'crypto ikev2 fragmentation')"
            ),
        ]
        for row in rows {
            let result = parse(row.line)
            XCTAssertEqual(result.lines(.error), [1], row.line)
            XCTAssertEqual(result.errorMessage(0), row.message, row.line)
            XCTAssertNil(result.config.cookieChallenge, row.line)
            XCTAssertNil(result.config.ikeFragmentationMTU, row.line)
        }
    }
}
