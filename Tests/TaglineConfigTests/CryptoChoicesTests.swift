// The DH groups 5, 15, 20, 21 and 31 and ChaCha20-Poly1305 in IKEv2 proposals,
// `set pfs` and transform sets.

import TaglineCore
import XCTest

@testable import TaglineConfig

final class CryptoChoicesTests: XCTestCase {
    func testProposalTakesEveryGroup() {
        let result = parse(
            "crypto ikev2 proposal p",
            " encryption aes-cbc-256",
            " integrity sha256",
            " group 31 21 20 15 5",
            " group 19 14 2")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        XCTAssertEqual(
            result.config.ikev2Proposals["p"]?.groups,
            [.curve25519, .ecp521, .ecp384, .modp3072, .modp1536, .ecp256, .modp2048, .modp1024])
    }

    func testUnsupportedGroupsRejected() {
        // 1, 16 and 24 are IKEv2 groups that Tagline does not implement.
        for group in ["1", "16", "22", "24", "32", "-5", "05x"] {
            let result = parse(
                "crypto ikev2 proposal p",
                " encryption aes-cbc-128",
                " integrity sha1",
                " group 14",
                " group \(group)")
            XCTAssertEqual(result.lines(.error), [5], "\(group): \(listing(result))")
            XCTAssertEqual(
                result.errorMessage(0),
                "DH group '\(group)' is invalid or not supported "
                    + "(supported: 2 5 14 15 19 20 21 31)", group)
        }
    }

    func testChaChaProposalWithPRF() {
        let result = parse(
            "crypto ikev2 proposal chacha",
            " encryption chacha20-poly1305 aes-gcm-256",
            " prf sha256",
            " group 31")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        let proposal = result.config.ikev2Proposals["chacha"]
        XCTAssertEqual(proposal?.encryption, [.chacha20Poly1305, .aesGCM256])
        XCTAssertEqual(proposal?.integrity, [])
        XCTAssertEqual(proposal?.prf, [.hmacSHA256])
        XCTAssertEqual(proposal?.groups, [.curve25519])
        XCTAssertEqual(proposal?.isComplete, true)
    }

    func testChaChaProposalRules() {
        let result = parse(
            "crypto ikev2 proposal p",
            " encryption chacha20-poly1305",
            " integrity sha256",
            " encryption aes-cbc-128",
            " group 20")
        XCTAssertEqual(result.lines(.error), [1, 3, 4], listing(result))
        XCTAssertEqual(
            result.errorMessage(0),
            "ikev2 proposal p is incomplete: no prf, which chacha20-poly1305 proposals must "
                + "configure")
        XCTAssertEqual(
            result.errorMessage(1),
            "integrity cannot be configured with chacha20-poly1305, which authenticates by itself")
        XCTAssertEqual(
            result.errorMessage(2),
            "chacha20-poly1305 and CBC ciphers cannot share a proposal; "
                + "configure them in separate proposals")
        XCTAssertNil(result.config.ikev2Proposals["p"])
    }

    func testChaChaAfterIntegrityRejected() {
        let result = parse(
            "crypto ikev2 proposal p",
            " integrity sha1",
            " encryption chacha20-poly1305")
        XCTAssertEqual(result.lines(.error), [1, 3], listing(result))
        XCTAssertEqual(
            result.errorMessage(1),
            "chacha20-poly1305 cannot be combined with an integrity algorithm")
    }

    func testSetPFSTakesNewGroups() {
        let cases: [(String, DHGroup)] = [
            ("group5", .modp1536), ("group15", .modp3072), ("group20", .ecp384),
            ("group21", .ecp521), ("group31", .curve25519), ("GROUP20", .ecp384),
        ]
        for (word, group) in cases {
            let result = parse(
                "crypto ipsec transform-set ts esp-gcm",
                "crypto ipsec profile prof",
                " set transform-set ts",
                " set pfs \(word)")
            XCTAssertEqual(result.diagnostics, [], "\(word): \(listing(result))")
            XCTAssertEqual(result.config.ipsecProfiles["prof"]?.pfsGroup, group, word)
        }
    }

    func testSetPFSRejectsUnsupportedGroups() {
        for word in ["group1", "group16", "group24", "group", "5x"] {
            let result = parse(
                "crypto ipsec transform-set ts esp-gcm",
                "crypto ipsec profile prof",
                " set transform-set ts",
                " set pfs \(word)")
            XCTAssertEqual(result.lines(.error), [4], "\(word): \(listing(result))")
            XCTAssertNil(result.config.ipsecProfiles["prof"]?.pfsGroup, word)
        }
    }

    func testChaChaTransformSet() {
        let result = parse("crypto ipsec transform-set ts esp-chacha20-poly1305")
        XCTAssertEqual(result.diagnostics, [], listing(result))
        let transformSet = result.config.transformSets["ts"]
        XCTAssertEqual(transformSet?.encryption, .chacha20Poly1305)
        XCTAssertNil(transformSet?.integrity)
        XCTAssertEqual(transformSet?.description, "esp-chacha20-poly1305")
    }

    func testChaChaTransformSetRejectsHMACAndSecondCipher() {
        let cases: [(String, String)] = [
            (
                "esp-chacha20-poly1305 esp-sha256-hmac",
                "esp-chacha20-poly1305 authenticates by itself and cannot be combined with an HMAC"
            ),
            (
                "esp-sha-hmac esp-chacha20-poly1305",
                "esp-chacha20-poly1305 authenticates by itself and cannot be combined with an HMAC"
            ),
            ("esp-chacha20-poly1305 esp-gcm", "a transform set takes one encryption transform"),
            (
                "esp-chacha20-poly1305 256",
                "unknown or unsupported transform '256' (supported: esp-3des esp-aes esp-gcm "
                    + "esp-chacha20-poly1305 esp-null esp-md5-hmac esp-sha-hmac esp-sha256-hmac)"
            ),
        ]
        for (words, message) in cases {
            let result = parse("!", "crypto ipsec transform-set ts \(words)")
            XCTAssertEqual(result.lines(.error), [2], "\(words): \(listing(result))")
            XCTAssertEqual(result.errors.first?.message, message, words)
            XCTAssertNil(result.config.transformSets["ts"], words)
        }
    }
}
