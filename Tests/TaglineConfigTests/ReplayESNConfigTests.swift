// `crypto ipsec security-association replay window-size N` and Tagline's
// `crypto ipsec esn`.

import XCTest

@testable import TaglineConfig

final class ReplayESNConfigTests: XCTestCase {
    func testDefaults() {
        let result = parse("hostname gw")
        XCTAssertEqual(result.config.replayWindowSize, 1024)
        XCTAssertFalse(result.config.extendedSequenceNumbers)
    }

    func testWindowSizes() {
        for size in [32, 64, 1024, 4096, 65536] {
            let result = parse("crypto ipsec security-association replay window-size \(size)")
            XCTAssertEqual(result.diagnostics, [], listing(result))
            XCTAssertEqual(result.config.replayWindowSize, size)
        }
    }

    func testInvalidWindowSizesRejected() {
        let rows: [(line: String, message: String)] = [
            (
                "crypto ipsec security-association replay window-size 16",
                "invalid replay window size '16' (expected 32-65536)"
            ),
            (
                "crypto ipsec security-association replay window-size 70000",
                "invalid replay window size '70000' (expected 32-65536)"
            ),
            (
                "crypto ipsec security-association replay window-size",
                "missing replay window size"
            ),
            (
                "crypto ipsec security-association replay window-size 64 now",
                "unexpected 'now' after 'crypto ipsec security-association replay window-size 64'"
            ),
        ]
        for row in rows {
            let result = parse(row.line)
            XCTAssertEqual(result.lines(.error), [1], row.line)
            XCTAssertEqual(result.errorMessage(0), row.message, row.line)
            XCTAssertEqual(result.config.replayWindowSize, 1024, row.line)
        }
    }

    func testReplayDisableRejected() {
        let result = parse("crypto ipsec security-association replay disable")
        XCTAssertEqual(result.lines(.error), [1])
        XCTAssertTrue(result.errorMessage(0).contains("anti-replay checking always stays on"))
    }

    func testESNLine() {
        let result = parse("crypto ipsec esn")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertTrue(result.config.extendedSequenceNumbers)
    }

    func testESNLineTakesNoArguments() {
        let result = parse("crypto ipsec esn yes")
        XCTAssertEqual(result.lines(.error), [1])
        XCTAssertFalse(result.config.extendedSequenceNumbers)
    }
}
