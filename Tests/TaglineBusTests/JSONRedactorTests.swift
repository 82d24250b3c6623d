// Redaction of key material from JSON bodies before they are mirrored.

import TaglineBus
import XCTest

final class JSONRedactorTests: XCTestCase {
    private func redact(_ text: String) -> String {
        String(decoding: JSONRedactor.redact(Array(text.utf8)), as: UTF8.self)
    }

    func testRedactorTable() {
        let cases: [(input: String, expected: String)] = [
            ("{}", "{}"),
            ("[]", "[]"),
            ("{\"spi\":4096}", "{\"spi\":4096}"),
            // Any member name containing key, secret, psk or password, in any case.
            ("{\"encryptionKey\":\"00ff\"}", "{\"encryptionKey\":\"<redacted>\"}"),
            ("{\"KEYS\":[1,2]}", "{\"KEYS\":\"<redacted>\"}"),
            ("{\"clientSecret\":{\"a\":1}}", "{\"clientSecret\":\"<redacted>\"}"),
            ("{\"psk\":\"cisco\",\"n\":1}", "{\"psk\":\"<redacted>\",\"n\":1}"),
            ("{\"Password\":null}", "{\"Password\":\"<redacted>\"}"),
            // Nested objects and arrays are searched too.
            (
                "{\"childSA\":{\"inboundKeys\":{\"encryptionKey\":\"aa\"},\"spi\":1}}",
                "{\"childSA\":{\"inboundKeys\":\"<redacted>\",\"spi\":1}}"
            ),
            (
                "[{\"integrityKey\":\"bb\"},{\"x\":true}]",
                "[{\"integrityKey\":\"<redacted>\"},{\"x\":true}]"
            ),
            // Whitespace goes; numbers keep every digit; escapes survive.
            (
                " { \"epoch\" : 18446744073709551615 , \"t\" : \"a\\\"b\" } ",
                "{\"epoch\":18446744073709551615,\"t\":\"a\\\"b\"}"
            ),
            // A key-like value under an innocent name is not touched.
            ("{\"name\":\"key\"}", "{\"name\":\"key\"}"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(redact(input), expected, "input \(input)")
        }
    }

    func testInvalidJSONIsReplacedWhole() {
        let placeholder = JSONRedactor.unparsedPlaceholder
        for input in ["", "{", "{\"key\":}", "{\"a\" 1}", "[1,]x", "not json", "{\"a\":tru}"] {
            XCTAssertEqual(redact(input), placeholder, "input \(input)")
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        XCTAssertEqual(redact(deep), placeholder)
    }

    func testIndentedOutput() {
        let input = "{\"a\":[1,{\"psk\":\"x\"}],\"b\":{},\"c\":\"{,}\"}"
        let expected = """
            {
              "a": [
                1,
                {
                  "psk": "<redacted>"
                }
              ],
              "b": {},
              "c": "{,}"
            }
            """
        let output = JSONRedactor.redact(Array(input.utf8), indent: 2)
        XCTAssertEqual(String(decoding: output, as: UTF8.self), expected)
    }
}
