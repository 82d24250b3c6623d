import COpenSSL
import TaglineCore
import XCTest

@testable import TaglineCrypto

final class ChaCha20Poly1305CipherTests: XCTestCase {
    private func rfcRecord() throws -> VectorRecord {
        try XCTUnwrap(VectorFile.load("rfc8439-chacha20-poly1305.txt").first)
    }

    func testRFC8439AEADVector() throws {
        let record = try rfcRecord()
        let cipher = try ChaCha20Poly1305Cipher(rawKey: record.bytes("K"))
        let nonce = try record.bytes("N")
        let aad = try record.bytes("A")
        let plaintext = try record.bytes("P")
        XCTAssertEqual(plaintext.count, 114)

        let sealed = try cipher.seal(nonce: nonce, aad: aad, plaintext: plaintext)
        XCTAssertEqualHex(sealed.ciphertext, try record.bytes("C"))
        XCTAssertEqualHex(sealed.tag, try record.bytes("T"))
        XCTAssertEqualHex(
            try cipher.open(
                nonce: nonce, aad: aad, ciphertext: record.bytes("C"), tag: record.bytes("T")),
            plaintext)
    }

    func testExplicitIVMatchesFullNonce() throws {
        // RFC 7634 §2: the nonce is the 4-byte salt from the key material
        // followed by the packet's 8-byte IV. The RFC 8439 nonce splits into
        // the salt 07000000 and the IV 4041424344454647.
        let record = try rfcRecord()
        let nonce = try record.bytes("N")
        let cipher = try ChaCha20Poly1305Cipher(keyMaterial: record.bytes("K") + nonce.prefix(4))
        let explicitIV = Array(nonce.suffix(8))
        let sealed = try cipher.seal(
            explicitIV: explicitIV, aad: record.bytes("A"), plaintext: record.bytes("P"))
        XCTAssertEqualHex(sealed.ciphertext, try record.bytes("C"))
        XCTAssertEqualHex(sealed.tag, try record.bytes("T"))
        XCTAssertEqualHex(
            try cipher.open(
                explicitIV: explicitIV, aad: record.bytes("A"), ciphertext: sealed.ciphertext,
                tag: sealed.tag),
            try record.bytes("P"))
    }

    func testFactoryPicksCipherByAlgorithm() throws {
        let record = try rfcRecord()
        let nonce = try record.bytes("N")
        let keyMaterial = try record.bytes("K") + nonce.prefix(4)
        let cipher = try makeAEADCipher(algorithm: .chacha20Poly1305, keyMaterial: keyMaterial)
        XCTAssertTrue(cipher is ChaCha20Poly1305Cipher)
        let sealed = try cipher.seal(
            explicitIV: Array(nonce.suffix(8)), aad: record.bytes("A"),
            plaintext: record.bytes("P"))
        XCTAssertEqualHex(sealed.tag, try record.bytes("T"))

        let gcm = try makeAEADCipher(algorithm: .aesGCM128, keyMaterial: secureRandomBytes(20))
        XCTAssertTrue(gcm is GCMCipher)
        XCTAssertThrowsError(
            try makeAEADCipher(algorithm: .aesCBC128, keyMaterial: secureRandomBytes(16))
        ) {
            guard case .invalidArgument = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
    }

    func testInPlaceESPLayout() throws {
        // ESP with ChaCha20-Poly1305: SPI and sequence number (the AAD, as in
        // RFC 4106 §5), the 8-byte IV, the payload encrypted in place, then the
        // 16-byte ICV.
        let cipher = try ChaCha20Poly1305Cipher(keyMaterial: secureRandomBytes(36))
        let header: [UInt8] = [0x00, 0x00, 0x10, 0x01, 0x00, 0x00, 0x00, 0x01]
        let explicitIV: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 1]
        let payload = Array("inner IPv4 packet and ESP trailer".utf8)
        var packet = header + explicitIV + payload + [UInt8](repeating: 0, count: 16)
        let payloadRange = 16..<(16 + payload.count)
        let icvRange = payloadRange.upperBound..<packet.count

        try packet.withUnsafeMutableBytes { buffer in
            try cipher.seal(
                explicitIV: UnsafeRawBufferPointer(rebasing: buffer[8..<16]),
                aad: UnsafeRawBufferPointer(rebasing: buffer[0..<8]),
                data: UnsafeMutableRawBufferPointer(rebasing: buffer[payloadRange]),
                tag: UnsafeMutableRawBufferPointer(rebasing: buffer[icvRange]))
        }
        XCTAssertNotEqual(Array(packet[payloadRange]), payload)

        let verified = try packet.withUnsafeMutableBytes { buffer in
            try cipher.open(
                explicitIV: UnsafeRawBufferPointer(rebasing: buffer[8..<16]),
                aad: UnsafeRawBufferPointer(rebasing: buffer[0..<8]),
                data: UnsafeMutableRawBufferPointer(rebasing: buffer[payloadRange]),
                tag: UnsafeRawBufferPointer(rebasing: buffer[icvRange]))
        }
        XCTAssertTrue(verified)
        XCTAssertEqualHex(Array(packet[payloadRange]), payload)
    }

    func testTagMismatchReturnsFalse() throws {
        let record = try rfcRecord()
        let cipher = try ChaCha20Poly1305Cipher(rawKey: record.bytes("K"))
        var tag = try record.bytes("T")
        tag[15] ^= 0x01
        var data = try record.bytes("C")
        let nonce = try record.bytes("N")
        let aad = try record.bytes("A")
        let verified = try nonce.withUnsafeBytes { nonceBytes in
            try aad.withUnsafeBytes { aadBytes in
                try tag.withUnsafeBytes { tagBytes in
                    try data.withUnsafeMutableBytes {
                        try cipher.open(nonce: nonceBytes, aad: aadBytes, data: $0, tag: tagBytes)
                    }
                }
            }
        }
        XCTAssertFalse(verified)
        // No unauthenticated plaintext is left behind, and no OpenSSL error stays queued.
        XCTAssertEqual(data, [UInt8](repeating: 0, count: data.count))
        XCTAssertEqual(ERR_peek_error(), 0)

        // The same instance still opens the genuine message afterwards.
        XCTAssertEqualHex(
            try cipher.open(
                nonce: nonce, aad: aad, ciphertext: record.bytes("C"), tag: record.bytes("T")),
            try record.bytes("P"))
    }

    func testTamperedCiphertextOrAADFails() throws {
        let record = try rfcRecord()
        let cipher = try ChaCha20Poly1305Cipher(rawKey: record.bytes("K"))
        let nonce = try record.bytes("N")
        var ciphertext = try record.bytes("C")
        ciphertext[0] ^= 0x80
        XCTAssertNil(
            try cipher.open(
                nonce: nonce, aad: record.bytes("A"), ciphertext: ciphertext,
                tag: record.bytes("T")))
        var aad = try record.bytes("A")
        aad[0] ^= 0x01
        XCTAssertNil(
            try cipher.open(
                nonce: nonce, aad: aad, ciphertext: record.bytes("C"), tag: record.bytes("T")))
        var otherNonce = nonce
        otherNonce[0] ^= 0x01
        XCTAssertNil(
            try cipher.open(
                nonce: otherNonce, aad: record.bytes("A"), ciphertext: record.bytes("C"),
                tag: record.bytes("T")))
    }

    func testEmptyPlaintextStillAuthenticates() throws {
        let cipher = try ChaCha20Poly1305Cipher(keyMaterial: secureRandomBytes(36))
        let iv = secureRandomBytes(8)
        let sealed = try cipher.seal(explicitIV: iv, aad: [1, 2, 3], plaintext: [])
        XCTAssertEqualHex(sealed.ciphertext, [])
        XCTAssertEqual(sealed.tag.count, 16)
        XCTAssertEqualHex(
            try cipher.open(explicitIV: iv, aad: [1, 2, 3], ciphertext: [], tag: sealed.tag), [])
        XCTAssertNil(
            try cipher.open(explicitIV: iv, aad: [1, 2, 4], ciphertext: [], tag: sealed.tag))
    }

    func testRejectsWrongKeyLengths() {
        XCTAssertThrowsError(try ChaCha20Poly1305Cipher(keyMaterial: secureRandomBytes(32))) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 36, actual: 32))
        }
        XCTAssertThrowsError(try ChaCha20Poly1305Cipher(rawKey: secureRandomBytes(36))) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 32, actual: 36))
        }
        // GCMCipher takes only the AES-GCM algorithms, although ChaCha20-Poly1305
        // has the same 36-byte key material as AES-GCM-256.
        XCTAssertThrowsError(
            try GCMCipher(algorithm: .chacha20Poly1305, keyMaterial: secureRandomBytes(36))
        ) {
            guard case .invalidArgument = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
    }

    func testRejectsWrongIVAndTagLengths() throws {
        let cipher = try ChaCha20Poly1305Cipher(keyMaterial: secureRandomBytes(36))
        XCTAssertThrowsError(try cipher.seal(explicitIV: [1, 2, 3], aad: [], plaintext: [1]))
        XCTAssertThrowsError(try cipher.seal(nonce: [1, 2, 3], aad: [], plaintext: [1]))
        XCTAssertThrowsError(
            try cipher.open(
                explicitIV: Array(repeating: 0, count: 8), aad: [], ciphertext: [1],
                tag: [1, 2, 3]))
    }

    func testRawKeyInstanceNeedsFullNonce() throws {
        let cipher = try ChaCha20Poly1305Cipher(rawKey: secureRandomBytes(32))
        XCTAssertThrowsError(
            try cipher.seal(explicitIV: Array(repeating: 0, count: 8), aad: [], plaintext: [1])
        ) {
            guard case .invalidArgument = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
    }
}
