// The printed form of diagnostics, and keys kept out of them.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class DiagnosticTests: XCTestCase {
    func testDescriptionFormats() {
        let ignored = ConfigDiagnostic(
            line: 118, kind: .ignored, text: "logging esm config",
            message: "not implemented")
        XCTAssertEqual(
            ignored.description, "line 118: ignored (not implemented): logging esm config")
        let error = ConfigDiagnostic(
            line: 27, kind: .error, text: "set ikev2-profile prof1_ipv4",
            message: "ikev2 profile prof1_ipv4 is not defined")
        XCTAssertEqual(
            error.description,
            "line 27: error: ikev2 profile prof1_ipv4 is not defined (set ikev2-profile prof1_ipv4)"
        )
    }

    func testKeysNeverInDiagnostics() {
        let result = parse(
            "crypto ikev2 keyring ring",
            " peer a",
            "  pre-shared-key 7 TopSecret1",
            "  pre-shared-key local 6 TopSecret2",
            "crypto ikev2 profile p",
            " authentication local pre-share key TopSecret3",
            "username admin password 0 TopSecret4",
            "enable secret 5 TopSecret5")
        let printed = listing(result)
        XCTAssertFalse(printed.contains("TopSecret"), printed)
        XCTAssertEqual(result.lines(.error).filter { $0 != 2 && $0 != 5 }, [3, 4, 6], printed)
        XCTAssertEqual(result.lines(.ignored), [7, 8], printed)
    }

    func testSecretBytesDoNotPrint() throws {
        let result = parse(
            "crypto ikev2 keyring ring",
            " peer a",
            "  address 198.51.100.2",
            "  pre-shared-key VerySecret")
        let peer = try XCTUnwrap(result.config.keyrings["ring"]?.peers.first)
        XCTAssertFalse("\(peer)".contains("VerySecret"))
        XCTAssertFalse("\(result.config)".contains("VerySecret"))
    }

    func testDiagnosticsSortedByLine() {
        let result = parse(
            "crypto map cmap 10",
            " set transform-set nothere",
            "frobnicate",
            "logging buffered")
        XCTAssertEqual(result.diagnostics.map { $0.line }, [1, 2, 3, 4], listing(result))
        XCTAssertEqual(result.diagnostics.map { $0.kind }, [.error, .error, .error, .ignored])
    }
}
