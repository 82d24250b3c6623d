// Echoed input in diagnostics: escaped, shortened, and free of a leading byte order mark.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class DiagnosticTextTests: XCTestCase {
    func testControlBytesEscaped() throws {
        let bytes = Array("ip route ".utf8) + [0x1B, 0x5B, 0x32, 0x4A, 0x07, 0x09, 0x41]
        let result = ConfigLoader.parse(bytes: bytes)
        XCTAssertEqual(result.lines(.error), [1], listing(result))
        let error = try XCTUnwrap(result.errors.first)
        XCTAssertEqual(error.text, "ip route \\x1B[2J\\x07\\x09A")
        XCTAssertFalse(error.description.unicodeScalars.contains { $0.value < 0x20 })
    }

    func testInvalidUTF8ShownAsHex() throws {
        let bytes: [UInt8] = [0x66, 0xFF, 0xFE, 0x41, 0xC3]
        let result = ConfigLoader.parse(bytes: bytes)
        let error = try XCTUnwrap(result.errors.first)
        XCTAssertEqual(error.text, "f\\xFF\\xFEA\\xC3")
        XCTAssertEqual(
            error.message, "line contains control characters or bytes that are not UTF-8")
    }

    func testInvisibleCharactersEscaped() {
        let result = parse(
            "cts role-based sgt-map 192.0.2.1\u{00A0}sgt 5",
            "crypto ikev2 \u{202E}cts sgt",
            "crypto ikev2 proposal caf\u{00E9}")
        XCTAssertEqual(result.lines(.error), [1, 2, 3], listing(result))
        XCTAssertTrue(result.errorText(0).contains("192.0.2.1\\xC2\\xA0sgt"), result.errorText(0))
        XCTAssertTrue(result.errorMessage(0).contains("\\xC2\\xA0"), result.errorMessage(0))
        XCTAssertTrue(result.errorText(1).contains("\\xE2\\x80\\xAEcts"), result.errorText(1))
        XCTAssertEqual(result.errorText(2), "crypto ikev2 proposal caf\u{00E9}", "letters stay")
    }

    func testLongLineShortened() throws {
        let word = String(repeating: "a", count: 2_000_000)
        let result = parse("interface \(word)")
        let error = try XCTUnwrap(result.errors.first)
        XCTAssertEqual(error.text, "interface " + String(repeating: "a", count: 110) + "...")
        XCTAssertTrue(
            error.message.hasSuffix("(expected up to 64 printable ASCII characters)"),
            error.message)
        XCTAssertLessThan(error.description.utf8.count, 500, "a 2 MB line prints short")
    }

    func testCutKeepsWholeEscapes() throws {
        let bytes = [UInt8(ascii: "a")] + [UInt8](repeating: 0xFF, count: 100)
        let error = try XCTUnwrap(ConfigLoader.parse(bytes: bytes).errors.first)
        XCTAssertEqual(error.text, "a" + String(repeating: "\\xFF", count: 29) + "...")
    }

    func testDiagnosticInitEscapes() {
        let diagnostic = ConfigDiagnostic(
            line: 3, kind: .error, text: "\u{1B}[31mred\r",
            message: "bad value '\u{1B}]0;title\u{07}'")
        XCTAssertEqual(diagnostic.text, "\\x1B[31mred\\x0D")
        XCTAssertEqual(diagnostic.message, "bad value '\\x1B]0;title\\x07'")
        XCTAssertEqual(
            diagnostic.description,
            "line 3: error: bad value '\\x1B]0;title\\x07' (\\x1B[31mred\\x0D)")
    }

    func testByteOrderMarkSkipped() {
        let line = "cts role-based sgt-map 192.0.2.1 sgt 5"
        let fromBytes = ConfigLoader.parse(bytes: [0xEF, 0xBB, 0xBF] + Array(line.utf8))
        XCTAssertEqual(fromBytes.diagnostics, [], listing(fromBytes))
        XCTAssertEqual(fromBytes.config.sgtBindings.count, 1)
        let fromText = ConfigLoader.parse(text: "\u{FEFF}" + line)
        XCTAssertEqual(fromText.diagnostics, [], listing(fromText))
        XCTAssertEqual(fromText.config.sgtBindings.count, 1)
    }

    func testByteOrderMarkInsideFileVisible() {
        let result = parse("hostname gw1", "\u{FEFF}cts role-based sgt-map 192.0.2.1 sgt 5")
        XCTAssertEqual(result.lines(.error), [2], listing(result))
        XCTAssertTrue(result.errorText(0).hasPrefix("\\xEF\\xBB\\xBFcts"), result.errorText(0))
    }
}
