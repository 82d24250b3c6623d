// `crypto ipsec transform-set`: accepted transforms, rejected combinations and mode.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class TransformSetTests: XCTestCase {
    func testAcceptedTransforms() {
        // transform words, expected encryption, expected integrity
        let cases: [(String, EncryptionAlgorithm, IntegrityAlgorithm?)] = [
            ("esp-3des esp-sha-hmac", .tripleDES, .hmacSHA1_96),
            ("esp-aes esp-sha-hmac", .aesCBC128, .hmacSHA1_96),
            ("esp-aes 128 esp-md5-hmac", .aesCBC128, .hmacMD5_96),
            ("esp-aes 192 esp-sha256-hmac", .aesCBC192, .hmacSHA256_128),
            ("esp-aes 256 esp-sha256-hmac", .aesCBC256, .hmacSHA256_128),
            ("esp-sha256-hmac esp-aes 256", .aesCBC256, .hmacSHA256_128),
            ("esp-gcm", .aesGCM128, nil),
            ("esp-gcm 128", .aesGCM128, nil),
            ("esp-gcm 256", .aesGCM256, nil),
            ("esp-null esp-sha-hmac", .null, .hmacSHA1_96),
            ("esp-sha-hmac", .null, .hmacSHA1_96),
        ]
        for (words, encryption, integrity) in cases {
            let result = parse("crypto ipsec transform-set ts \(words)")
            XCTAssertEqual(result.diagnostics, [], "\(words): \(listing(result))")
            let transformSet = result.config.transformSets["ts"]
            XCTAssertEqual(transformSet?.encryption, encryption, words)
            XCTAssertEqual(transformSet?.integrity, integrity, words)
            XCTAssertEqual(transformSet?.description, words, words)
        }
    }

    func testInvalidCombinationsRejectedWithLine() {
        let cases = [
            "esp-gcm esp-sha-hmac",
            "esp-gcm 256 esp-sha256-hmac",
            "esp-null",
            "esp-aes esp-3des esp-sha-hmac",
            "esp-aes esp-sha-hmac esp-md5-hmac",
            "esp-aes 512 esp-sha-hmac",
            "esp-gcm 192",
            "esp-des esp-sha-hmac",
            "ah-sha-hmac esp-aes",
            "esp-sha512-hmac esp-aes",
        ]
        for words in cases {
            let result = parse("!", "crypto ipsec transform-set ts \(words)")
            XCTAssertEqual(result.lines(.error), [2], "\(words): \(listing(result))")
            XCTAssertNil(result.config.transformSets["ts"], words)
        }
    }

    func testMissingTransformsRejected() {
        let result = parse("crypto ipsec transform-set ts")
        XCTAssertEqual(result.errors.first?.message, "missing transforms")
    }

    func testGCMWithHMACMessage() {
        let result = parse("crypto ipsec transform-set ts esp-gcm esp-sha-hmac")
        XCTAssertEqual(
            result.errors.first?.message,
            "esp-gcm authenticates by itself and cannot be combined with an HMAC")
    }

    func testModeTransportAndTunnel() {
        let result = parse(
            "crypto ipsec transform-set a esp-aes esp-sha-hmac",
            " mode transport",
            "crypto ipsec transform-set b esp-aes esp-sha-hmac",
            " mode transport require",
            "crypto ipsec transform-set c esp-aes esp-sha-hmac",
            " mode tunnel",
            " mode sideways")
        XCTAssertEqual(result.lines(.error), [7], listing(result))
        XCTAssertEqual(result.config.transformSets["a"]?.mode, .transport)
        XCTAssertEqual(result.config.transformSets["b"]?.mode, .transport)
        XCTAssertEqual(result.config.transformSets["c"]?.mode, .tunnel)
    }

    func testRedefinitionReplacesTransformsKeepsMode() {
        let result = parse(
            "crypto ipsec transform-set ts esp-aes esp-sha-hmac",
            " mode transport",
            "crypto ipsec transform-set ts esp-gcm 256")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(result.config.transformSets["ts"]?.encryption, .aesGCM256)
        XCTAssertNil(result.config.transformSets["ts"]?.integrity)
        XCTAssertEqual(result.config.transformSets["ts"]?.mode, .transport)
        XCTAssertEqual(result.config.transformSets["ts"]?.line, 3)
    }
}
