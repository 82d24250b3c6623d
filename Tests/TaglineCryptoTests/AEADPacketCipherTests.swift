import TaglineCore
import XCTest

@testable import TaglineCrypto

/// The pointer-based packet form against the buffer API of the same cipher.
final class AEADPacketCipherTests: XCTestCase {
    private let iv: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
    private let aad: [UInt8] = [0xAA, 0xBB, 0xCC, 0xDD, 0, 0, 0, 9]

    private func ciphers() throws -> [(name: String, cipher: any AEADCipher)] {
        [
            (
                "gcm128",
                try makeAEADCipher(algorithm: .aesGCM128, keyMaterial: secureRandomBytes(20))
            ),
            (
                "gcm256",
                try makeAEADCipher(algorithm: .aesGCM256, keyMaterial: secureRandomBytes(36))
            ),
            (
                "chacha",
                try makeAEADCipher(algorithm: .chacha20Poly1305, keyMaterial: secureRandomBytes(36))
            ),
        ]
    }

    /// Seals `plaintext` with the buffer API and returns ciphertext and tag.
    private func sealWithBuffers(_ cipher: any AEADCipher, _ plaintext: [UInt8]) throws
        -> (ciphertext: [UInt8], tag: [UInt8])
    {
        var data = plaintext
        var tag = [UInt8](repeating: 0, count: 16)
        try iv.withUnsafeBytes { ivBytes in
            try aad.withUnsafeBytes { aadBytes in
                try data.withUnsafeMutableBytes { dataBytes in
                    try tag.withUnsafeMutableBytes { tagBytes in
                        try cipher.seal(
                            explicitIV: ivBytes, aad: aadBytes, data: dataBytes, tag: tagBytes)
                    }
                }
            }
        }
        return (data, tag)
    }

    func testSealMatchesBufferSeal() throws {
        for (name, cipher) in try ciphers() {
            let packet = try XCTUnwrap(cipher.packetCipher, name)
            for length in [0, 1, 15, 16, 17, 76, 1412] {
                let plaintext = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 7) }
                let expected = try sealWithBuffers(cipher, plaintext)
                var data = plaintext
                var tag = [UInt8](repeating: 0, count: 16)
                let sealed = data.withUnsafeMutableBytes { dataBytes in
                    tag.withUnsafeMutableBytes { tagBytes in
                        packet.seal(
                            explicitIV: iv, aad: aad, aadLength: aad.count,
                            data: dataBytes.baseAddress ?? tagBytes.baseAddress!,
                            dataLength: length, tag: tagBytes.baseAddress!)
                    }
                }
                XCTAssertTrue(sealed, "\(name) \(length)")
                XCTAssertEqual(data, expected.ciphertext, "\(name) \(length)")
                XCTAssertEqual(tag, expected.tag, "\(name) \(length)")
            }
        }
    }

    func testOpenOutOfPlace() throws {
        for (name, cipher) in try ciphers() {
            let packet = try XCTUnwrap(cipher.packetCipher, name)
            let plaintext = (0..<100).map { UInt8($0) }
            let sealed = try sealWithBuffers(cipher, plaintext)
            var output = [UInt8](repeating: 0xEE, count: plaintext.count)
            let outcome = output.withUnsafeMutableBytes { out in
                packet.open(
                    explicitIV: iv, aad: aad, aadLength: aad.count, input: sealed.ciphertext,
                    output: out.baseAddress!, dataLength: plaintext.count, tag: sealed.tag)
            }
            XCTAssertEqual(outcome, .verified, name)
            XCTAssertEqual(output, plaintext, name)
        }
    }

    func testOpenBadTagWipesOutput() throws {
        for (name, cipher) in try ciphers() {
            let packet = try XCTUnwrap(cipher.packetCipher, name)
            let plaintext = (0..<64).map { UInt8($0) }
            let sealed = try sealWithBuffers(cipher, plaintext)
            var badTag = sealed.tag
            badTag[5] ^= 0x01
            var output = [UInt8](repeating: 0xEE, count: plaintext.count)
            let outcome = output.withUnsafeMutableBytes { out in
                packet.open(
                    explicitIV: iv, aad: aad, aadLength: aad.count, input: sealed.ciphertext,
                    output: out.baseAddress!, dataLength: plaintext.count, tag: badTag)
            }
            XCTAssertEqual(outcome, .tagMismatch, name)
            XCTAssertEqual(output, [UInt8](repeating: 0, count: plaintext.count), name)
        }
    }

    func testBareKeyHasNoPacketForm() throws {
        XCTAssertNil(try GCMCipher(rawKey: [UInt8](repeating: 1, count: 16)).packetCipher)
        XCTAssertNil(
            try ChaCha20Poly1305Cipher(rawKey: [UInt8](repeating: 1, count: 32)).packetCipher)
    }
}
