import TaglineCore
import XCTest

@testable import TaglineCrypto

final class CBCCipherTests: XCTestCase {
    func testRFC3602AESCBCCases() throws {
        let records = try VectorFile.load("rfc3602-aes-cbc.txt")
        XCTAssertEqual(records.map { try? $0.integer("case") }, [1, 2, 3, 4])
        for record in records {
            let cipher = try CBCCipher(algorithm: .aesCBC128, key: record.bytes("key"))
            XCTAssertEqual(cipher.blockSize, 16)
            let iv = try record.bytes("iv")
            let plaintext = try record.bytes("plaintext")
            let ciphertext = try record.bytes("ciphertext")
            XCTAssertEqualHex(
                try cipher.encrypt(iv: iv, data: plaintext), ciphertext, record.location)
            XCTAssertEqualHex(
                try cipher.decrypt(iv: iv, data: ciphertext), plaintext, record.location)
        }
    }

    func testInPlaceMatchesVector() throws {
        // RFC 3602 case 4, through the pointer API with the IV ahead of the
        // data in one buffer, the way an ESP packet carries it.
        let record = try XCTUnwrap(
            VectorFile.load("rfc3602-aes-cbc.txt").first { try $0.integer("case") == 4 })
        let cipher = try CBCCipher(algorithm: .aesCBC128, key: record.bytes("key"))
        var packet = try record.bytes("iv") + record.bytes("plaintext")
        try packet.withUnsafeMutableBytes { buffer in
            let iv = UnsafeRawBufferPointer(rebasing: buffer[0..<16])
            let data = UnsafeMutableRawBufferPointer(rebasing: buffer[16...])
            try cipher.encrypt(iv: iv, data: data)
        }
        XCTAssertEqualHex(Array(packet[16...]), try record.bytes("ciphertext"))
        try packet.withUnsafeMutableBytes { buffer in
            let iv = UnsafeRawBufferPointer(rebasing: buffer[0..<16])
            let data = UnsafeMutableRawBufferPointer(rebasing: buffer[16...])
            try cipher.decrypt(iv: iv, data: data)
        }
        XCTAssertEqualHex(Array(packet[16...]), try record.bytes("plaintext"))
    }

    func testRepeatedCallsDoNotChain() throws {
        // Each call starts from its own IV, not from the previous call's last block.
        let record = try XCTUnwrap(
            VectorFile.load("rfc3602-aes-cbc.txt").first { try $0.integer("case") == 2 })
        let cipher = try CBCCipher(algorithm: .aesCBC128, key: record.bytes("key"))
        let iv = try record.bytes("iv")
        let plaintext = try record.bytes("plaintext")
        for _ in 0..<3 {
            XCTAssertEqualHex(
                try cipher.encrypt(iv: iv, data: plaintext),
                try record.bytes("ciphertext"))
        }
    }

    func testTripleDESKnownAnswer() throws {
        // NIST SP 800-67 gives ECB output. In CBC with a zero IV, block i is
        // E(P'i xor C(i-1)), so feeding P'i = Pi xor C(i-1) reproduces the ECB
        // blocks and checks the chaining as well.
        let record = try XCTUnwrap(VectorFile.load("sp800-67-tdea.txt").first)
        let plaintext = try record.bytes("plaintext")
        let ciphertext = try record.bytes("ciphertext")
        XCTAssertEqual(plaintext.count, 24)
        var chained = plaintext
        for index in 8..<24 {
            chained[index] ^= ciphertext[index - 8]
        }
        let cipher = try CBCCipher(algorithm: .tripleDES, key: record.bytes("key"))
        XCTAssertEqual(cipher.blockSize, 8)
        let zeroIV = [UInt8](repeating: 0, count: 8)
        XCTAssertEqualHex(try cipher.encrypt(iv: zeroIV, data: chained), ciphertext)
        XCTAssertEqualHex(try cipher.decrypt(iv: zeroIV, data: ciphertext), chained)
    }

    func testAESKeySizesRoundTrip() throws {
        for algorithm in [EncryptionAlgorithm.aesCBC128, .aesCBC192, .aesCBC256] {
            let key = (0..<algorithm.keyMaterialLength).map { UInt8($0 &* 7) }
            let cipher = try CBCCipher(algorithm: algorithm, key: key)
            let iv = secureRandomBytes(16)
            let plaintext = (0..<64).map { UInt8($0) }
            let ciphertext = try cipher.encrypt(iv: iv, data: plaintext)
            XCTAssertNotEqual(ciphertext, plaintext, algorithm.rawValue)
            XCTAssertEqualHex(
                try cipher.decrypt(iv: iv, data: ciphertext), plaintext,
                algorithm.rawValue)
        }
    }

    func testEmptyInputIsAllowed() throws {
        let cipher = try CBCCipher(algorithm: .aesCBC128, key: Array(repeating: 1, count: 16))
        XCTAssertEqual(try cipher.encrypt(iv: Array(repeating: 0, count: 16), data: []), [])
    }

    func testRejectsPartialBlock() throws {
        let cipher = try CBCCipher(algorithm: .aesCBC128, key: Array(repeating: 1, count: 16))
        XCTAssertThrowsError(
            try cipher.encrypt(
                iv: Array(repeating: 0, count: 16), data: Array(repeating: 0, count: 17))
        ) {
            guard case .invalidLength = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
    }

    func testRejectsWrongIVLength() throws {
        let cipher = try CBCCipher(algorithm: .tripleDES, key: Array(repeating: 1, count: 24))
        XCTAssertThrowsError(
            try cipher.decrypt(
                iv: Array(repeating: 0, count: 16), data: Array(repeating: 0, count: 8))
        ) {
            guard case .invalidLength = $0 as? CryptoError else {
                return XCTFail("unexpected error \($0)")
            }
        }
    }

    func testRejectsWrongKeyLength() {
        XCTAssertThrowsError(
            try CBCCipher(algorithm: .aesCBC256, key: Array(repeating: 1, count: 16))
        ) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 32, actual: 16))
        }
        XCTAssertThrowsError(
            try CBCCipher(algorithm: .tripleDES, key: Array(repeating: 1, count: 16))
        ) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(expected: 24, actual: 16))
        }
    }

    func testRejectsNonCBCAlgorithms() {
        for algorithm in [EncryptionAlgorithm.aesGCM128, .aesGCM256, .chacha20Poly1305, .null] {
            XCTAssertThrowsError(
                try CBCCipher(algorithm: algorithm, key: Array(repeating: 1, count: 20))
            ) {
                guard case .invalidArgument = $0 as? CryptoError else {
                    return XCTFail("unexpected error \($0)")
                }
            }
        }
    }
}
