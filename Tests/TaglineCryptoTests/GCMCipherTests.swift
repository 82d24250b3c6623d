import COpenSSL
import TaglineCore
import XCTest

@testable import TaglineCrypto

final class GCMCipherTests: XCTestCase {
    func testSpecificationCases() throws {
        let records = try VectorFile.load("gcm-spec-aes.txt")
        XCTAssertEqual(records.map { try? $0.integer("case") }, [2, 3, 4, 14, 15, 16])
        for record in records {
            let cipher = try GCMCipher(rawKey: record.bytes("K"))
            let nonce = try record.bytes("IV")
            let aad = try record.bytes("A")
            let plaintext = try record.bytes("P")
            let sealed = try cipher.seal(nonce: nonce, aad: aad, plaintext: plaintext)
            XCTAssertEqualHex(sealed.ciphertext, try record.bytes("C"), record.location)
            XCTAssertEqualHex(sealed.tag, try record.bytes("T"), record.location)

            let opened = try cipher.open(
                nonce: nonce, aad: aad, ciphertext: record.bytes("C"), tag: record.bytes("T"))
            XCTAssertEqualHex(opened, plaintext, record.location)
        }
    }

    func testExplicitIVMatchesFullNonce() throws {
        // RFC 4106 splits the nonce into a 4-byte salt from the key material and
        // an 8-byte IV from the packet. Cases 4 (AES-128) and 16 (AES-256) have
        // the nonce cafebabe | facedbaddecaf888.
        for record in try VectorFile.load("gcm-spec-aes.txt") where record.optional("A") != "\"\"" {
            let nonce = try record.bytes("IV")
            let key = try record.bytes("K")
            let algorithm: EncryptionAlgorithm = key.count == 16 ? .aesGCM128 : .aesGCM256
            let cipher = try GCMCipher(algorithm: algorithm, keyMaterial: key + nonce.prefix(4))
            let explicitIV = Array(nonce.suffix(8))
            let sealed = try cipher.seal(
                explicitIV: explicitIV, aad: record.bytes("A"), plaintext: record.bytes("P"))
            XCTAssertEqualHex(sealed.ciphertext, try record.bytes("C"), record.location)
            XCTAssertEqualHex(sealed.tag, try record.bytes("T"), record.location)
            XCTAssertEqualHex(
                try cipher.open(
                    explicitIV: explicitIV, aad: record.bytes("A"),
                    ciphertext: sealed.ciphertext, tag: sealed.tag),
                try record.bytes("P"), record.location)
        }
    }

    func testInPlaceESPLayout() throws {
        // ESP with AES-GCM: SPI and sequence number (the AAD), the 8-byte IV,
        // the payload encrypted in place, then the 16-byte ICV.
        let cipher = try GCMCipher(algorithm: .aesGCM128, keyMaterial: secureRandomBytes(20))
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
        let record = try XCTUnwrap(
            VectorFile.load("gcm-spec-aes.txt").first { try $0.integer("case") == 4 })
        let cipher = try GCMCipher(rawKey: record.bytes("K"))
        var tag = try record.bytes("T")
        tag[15] ^= 0x01
        var data = try record.bytes("C")
        let nonce = try record.bytes("IV")
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
                nonce: nonce, aad: aad, ciphertext: record.bytes("C"),
                tag: record.bytes("T")),
            try record.bytes("P"))
    }

    func testTamperedCiphertextOrAADFails() throws {
        let record = try XCTUnwrap(
            VectorFile.load("gcm-spec-aes.txt").first { try $0.integer("case") == 16 })
        let cipher = try GCMCipher(rawKey: record.bytes("K"))
        let nonce = try record.bytes("IV")
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
                nonce: nonce, aad: aad, ciphertext: record.bytes("C"),
                tag: record.bytes("T")))
    }

    func testRejectsWrongKeyMaterialLength() {
        XCTAssertThrowsError(
            try GCMCipher(algorithm: .aesGCM128, keyMaterial: Array(repeating: 1, count: 16))
        ) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 20, actual: 16))
        }
        XCTAssertThrowsError(
            try GCMCipher(algorithm: .aesGCM256, keyMaterial: Array(repeating: 1, count: 32))
        ) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 36, actual: 32))
        }
        XCTAssertThrowsError(try GCMCipher(rawKey: Array(repeating: 1, count: 20))) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 16, actual: 20))
        }
    }

    func testRejectsCBCAlgorithm() {
        XCTAssertThrowsError(
            try GCMCipher(algorithm: .aesCBC128, keyMaterial: Array(repeating: 1, count: 16))
        ) {
            guard case .invalidArgument = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
    }

    func testRejectsWrongIVAndTagLengths() throws {
        let cipher = try GCMCipher(
            algorithm: .aesGCM128, keyMaterial: Array(repeating: 1, count: 20))
        XCTAssertThrowsError(try cipher.seal(explicitIV: [1, 2, 3], aad: [], plaintext: [1]))
        XCTAssertThrowsError(try cipher.seal(nonce: [1, 2, 3], aad: [], plaintext: [1]))
        XCTAssertThrowsError(
            try cipher.open(
                explicitIV: Array(repeating: 0, count: 8), aad: [], ciphertext: [1],
                tag: [1, 2, 3]))
    }

    func testRawKeyInstanceNeedsFullNonce() throws {
        let cipher = try GCMCipher(rawKey: Array(repeating: 1, count: 16))
        XCTAssertThrowsError(
            try cipher.seal(explicitIV: Array(repeating: 0, count: 8), aad: [], plaintext: [1])
        ) {
            guard case .invalidArgument = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
    }

    func testEmptyPlaintextStillAuthenticates() throws {
        let cipher = try GCMCipher(algorithm: .aesGCM256, keyMaterial: secureRandomBytes(36))
        let iv = secureRandomBytes(8)
        let sealed = try cipher.seal(explicitIV: iv, aad: [1, 2, 3], plaintext: [])
        XCTAssertEqualHex(sealed.ciphertext, [])
        XCTAssertEqual(sealed.tag.count, 16)
        XCTAssertEqualHex(
            try cipher.open(explicitIV: iv, aad: [1, 2, 3], ciphertext: [], tag: sealed.tag), [])
        XCTAssertNil(
            try cipher.open(explicitIV: iv, aad: [1, 2, 4], ciphertext: [], tag: sealed.tag))
    }
}
