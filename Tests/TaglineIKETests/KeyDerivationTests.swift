// SKEYSEED, the seven IKE SA keys, PSK AUTH and Child SA KEYMAT, checked
// against values computed independently with Python's hmac and hashlib
// modules from the formulas of RFC 7296 §2.13-§2.17.

import TaglineCore
import XCTest

@testable import TaglineIKE

final class KeyDerivationTests: XCTestCase {
    private let initiatorNonce = Array(UInt8(0x10)..<UInt8(0x30))
    private let responderNonce = Array(UInt8(0x40)..<UInt8(0x60))
    private let sharedSecret = [UInt8](repeating: 0x5A, count: 32)

    private func derive(
        _ prf: PRFAlgorithm, _ encryption: EncryptionAlgorithm,
        _ integrity: IntegrityAlgorithm?
    ) throws -> IKESAKeys {
        try IKESAKeys.derive(
            prf: prf, encryption: encryption, integrity: integrity, sharedSecret: sharedSecret,
            initiatorNonce: initiatorNonce, responderNonce: responderNonce,
            initiatorSPI: 0x0102_0304_0506_0708, responderSPI: 0x1112_1314_1516_1718)
    }

    func testSHA256KeysMatchIndependentComputation() throws {
        let keys = try derive(.hmacSHA256, .aesCBC128, .hmacSHA256_128)
        XCTAssertEqual(
            Hex.encode(keys.derivation.bytes),
            "98b4d0cdb770b0e4ecd842314063e610cff2e4a17ab2aa3a1d1581af532bb16c")
        XCTAssertEqual(
            Hex.encode(keys.initiatorIntegrity.bytes),
            "a83aa4967bd4c24cc860733a6d4942b8cee901f031c70b2cfb1c9061f634df36")
        XCTAssertEqual(
            Hex.encode(keys.responderIntegrity.bytes),
            "b25863b3d16ef81161eb19f032193f627ada4a89c889133a6b093722399eecf5")
        XCTAssertEqual(
            Hex.encode(keys.initiatorEncryption.bytes), "185369e74410d997efb881e423803c91")
        XCTAssertEqual(
            Hex.encode(keys.responderEncryption.bytes), "a07b254f907238feae4ce0708dacb020")
        XCTAssertEqual(
            Hex.encode(keys.initiatorIdentity.bytes),
            "573ed4f353b472efbfb0fa6642a224e8304e88ff3d66a8d9bd6249e151959c20")
        XCTAssertEqual(
            Hex.encode(keys.responderIdentity.bytes),
            "eca851fe95b2de03b845d2b7dcdf7bba44ce55fcbcbf9cf4f43d6042bb6589a6")
    }

    func testGCMKeysIncludeSaltAndNoIntegrity() throws {
        let keys = try derive(.hmacSHA1, .aesGCM128, nil)
        XCTAssertEqual(
            Hex.encode(keys.derivation.bytes), "2fb1e1826a9f8cbe54b861804399e69cce459fee")
        XCTAssertTrue(keys.initiatorIntegrity.bytes.isEmpty)
        XCTAssertTrue(keys.responderIntegrity.bytes.isEmpty)
        XCTAssertEqual(
            Hex.encode(keys.initiatorEncryption.bytes), "f307cedaffa6c8ec214bdb7cd7d23189ae583a4d")
        XCTAssertEqual(
            Hex.encode(keys.responderEncryption.bytes), "920f90e5e30faf7914a5386c1123994e877e9054")
        XCTAssertEqual(
            Hex.encode(keys.responderIdentity.bytes), "27150fef63d004b126ddaa85556d3a27ffb988d4")
    }

    func testMD5With3DESKeys() throws {
        let keys = try derive(.hmacMD5, .tripleDES, .hmacMD5_96)
        XCTAssertEqual(Hex.encode(keys.derivation.bytes), "168554dc14b2dd18ea4ce8a33173937f")
        XCTAssertEqual(
            Hex.encode(keys.responderIntegrity.bytes), "d73cc4f004d5efdb6b6b845ba45b2178")
        XCTAssertEqual(
            Hex.encode(keys.initiatorEncryption.bytes),
            "5fb238a71fe8fe2c39475e3198598e3630089ef2327e923b")
        XCTAssertEqual(Hex.encode(keys.responderIdentity.bytes), "c3760901a34a409420682c00a301878c")
    }

    func testPSKAuthMatchesIndependentComputation() throws {
        let auth = try PSKAuthentication.authData(
            prf: .hmacSHA256, sharedKey: Array("lab-secret".utf8),
            message: Array("IKE_SA_INIT request bytes".utf8), peerNonce: responderNonce,
            identityKey: [UInt8](repeating: 0x33, count: 32),
            idPayloadBody: hexBytes("01 000000 c6336401"))
        XCTAssertEqual(
            Hex.encode(auth), "4d603f5ba7c477da644c0b8b3a04874367a78744b57d7b874c0d203092baffba")
    }

    func testChildKeyMaterialOrder() throws {
        // KEYMAT = prf+(SK_d, Ni | Nr), split as i->r encryption, i->r integrity,
        // r->i encryption, r->i integrity.
        let keymat = hexBytes(
            """
            83b56fceb2b8987ea6974ef66df880d5                     // i->r AES-CBC-128 key
            92815f707e220cf1efc9d44687466999f4be87c5             // i->r HMAC-SHA1 key
            55bb51a6da19ed95a09e04e865b14389                     // r->i AES-CBC-128 key
            4c79f4f51f3b870212244f4dc8346c627a7126b5             // r->i HMAC-SHA1 key
            """)
        let (forward, backward) = try ChildSAKeyMaterial.derive(
            prf: .hmacSHA256, derivationKey: [UInt8](repeating: 0x44, count: 32),
            encryption: .aesCBC128, integrity: .hmacSHA1_96, initiatorNonce: initiatorNonce,
            responderNonce: responderNonce)
        XCTAssertEqual(forward.encryptionKey.bytes, Array(keymat[0..<16]))
        XCTAssertEqual(forward.integrityKey.bytes, Array(keymat[16..<36]))
        XCTAssertEqual(backward.encryptionKey.bytes, Array(keymat[36..<52]))
        XCTAssertEqual(backward.integrityKey.bytes, Array(keymat[52..<72]))
    }

    func testSHA1MatchesFIPSExample() {
        // FIPS 180-2 Appendix A.1: SHA-1("abc").
        XCTAssertEqual(
            Hex.encode(SHA1.hash(Array("abc".utf8))), "a9993e364706816aba3e25717850c26c9cd0d89d")
        // Two-block message from Appendix A.2.
        XCTAssertEqual(
            Hex.encode(
                SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }
}
