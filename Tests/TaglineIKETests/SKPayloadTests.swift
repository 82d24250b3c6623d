// SK payload protection: CBC with HMAC, AES-GCM and ChaCha20-Poly1305, and tampered input.

import TaglineCore
import TaglineCrypto
import XCTest

@testable import TaglineIKE

final class SKPayloadTests: XCTestCase {
    private let random = SeededRandom(seed: 7)

    private func keys(_ encryption: EncryptionAlgorithm, _ integrity: IntegrityAlgorithm?)
        -> SKKeys
    {
        SKKeys(
            encryption: encryption, integrity: integrity,
            encryptionKey: random.bytes(encryption.keyMaterialLength),
            integrityKey: random.bytes(integrity?.keyLength ?? 0))
    }

    private let message = IKEMessage(
        header: IKEHeader(
            initiatorSPI: 0x1111, responderSPI: 0x2222, nextPayload: 0,
            exchangeType: .informational, isInitiator: true, isResponse: false, messageID: 7),
        payloads: [
            .delete(DeletePayload(espSPIs: [0xA000_0001])),
            .notify(NotifyPayload(type: .initialContact)),
        ])

    private let suites: [(EncryptionAlgorithm, IntegrityAlgorithm?)] = [
        (.tripleDES, .hmacMD5_96), (.aesCBC128, .hmacSHA1_96), (.aesCBC256, .hmacSHA256_128),
        (.aesGCM128, nil), (.aesGCM256, nil), (.chacha20Poly1305, nil),
    ]

    func testEachSuiteRoundTrips() throws {
        for (encryption, integrity) in suites {
            let keys = keys(encryption, integrity)
            let bytes = try message.encodeProtected(with: keys, random: random.bytes)
            let received = try ReceivedMessage.decode(bytes)
            XCTAssertEqual(received.header.nextPayload, PayloadType.encrypted.rawValue)
            XCTAssertEqual(received.encryptedOffset, IKEHeader.size)
            let opened = try received.decrypt(with: keys)
            XCTAssertEqual(opened.payloads, message.payloads, "\(encryption)")
            // IV, padded ciphertext and checksum follow the 4-byte SK header.
            let minimum = IKEHeader.size + 4 + keys.ivLength + keys.checksumLength
            XCTAssertGreaterThan(bytes.count, minimum)
        }
    }

    func testTamperedByteFailsIntegrity() throws {
        for (encryption, integrity) in suites {
            let keys = keys(encryption, integrity)
            let bytes = try message.encodeProtected(with: keys, random: random.bytes)
            // Flip one byte in the header (covered by ICV or AAD) and one in the ciphertext.
            for position in [IKEHeader.messageIDOffset + 3, bytes.count - keys.checksumLength - 1] {
                var tampered = bytes
                tampered[position] ^= 0x01
                let received = try ReceivedMessage.decode(tampered)
                XCTAssertThrowsError(try received.decrypt(with: keys)) { error in
                    XCTAssertEqual(error as? IKEProtocolError, .integrityCheckFailed)
                }
            }
        }
    }

    func testChaChaLayoutMatchesRFC7634() throws {
        // RFC 7634 §3: the 8-byte IV after the SK header, then the ciphertext
        // and the 16-byte tag. The nonce is the SK_e salt || IV, and the AAD runs
        // from the IKE header through the SK payload header (as RFC 5282 §5.1).
        let keys = keys(.chacha20Poly1305, nil)
        let bytes = try message.encodeProtected(with: keys, random: random.bytes)
        let bodyStart = IKEHeader.size + 4
        let iv = Array(bytes[bodyStart..<(bodyStart + 8)])
        let tagStart = bytes.count - 16
        let cipher = try ChaCha20Poly1305Cipher(keyMaterial: keys.encryptionKey.bytes)
        let plaintext = try XCTUnwrap(
            cipher.open(
                explicitIV: iv, aad: Array(bytes[..<bodyStart]),
                ciphertext: Array(bytes[(bodyStart + 8)..<tagStart]),
                tag: Array(bytes[tagStart...])))
        // The AEAD needs no block alignment, so the only padding is the Pad Length byte.
        XCTAssertEqual(plaintext.last, 0)
    }

    func testWrongKeyFailsIntegrity() throws {
        let bytes = try message.encodeProtected(
            with: keys(.aesCBC128, .hmacSHA256_128), random: random.bytes)
        XCTAssertThrowsError(
            try ReceivedMessage.decode(bytes).decrypt(with: keys(.aesCBC128, .hmacSHA256_128)))
    }

    func testPadLengthPastPlaintextIsRejected() throws {
        // A GCM message whose only plaintext byte, the Pad Length, claims 200 bytes.
        let keys = keys(.aesGCM128, nil)
        var message = hexBytes(
            """
            0000000000000001 0000000000000002  // SPIs
            2e 20 25 08                        // next payload SK, INFORMATIONAL, Initiator
            00000001 00000039                  // message ID 1, length 57
            00 00 001d                         // SK: no inner payload, length 29
            """)
        let iv = random.bytes(8)
        let cipher = try GCMCipher(algorithm: .aesGCM128, keyMaterial: keys.encryptionKey.bytes)
        let sealed = try cipher.seal(explicitIV: iv, aad: message, plaintext: [200])
        message += iv + sealed.ciphertext + sealed.tag
        XCTAssertThrowsError(try ReceivedMessage.decode(message).decrypt(with: keys)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "SK pad length", offset: 40, value: 200))
        }
    }

    func testSKShorterThanChecksumIsRejected() throws {
        let keys = keys(.aesCBC128, .hmacSHA256_128)
        let bytes = hexBytes(
            """
            0000000000000001 0000000000000002  // SPIs
            2e 20 25 08                        // next payload SK, INFORMATIONAL, Initiator
            00000001 00000024                  // message ID 1, length 36
            00 00 0008                         // SK: first inner payload none, length 8
            00000000                           // 4 bytes: less than IV plus checksum
            """)
        XCTAssertThrowsError(try ReceivedMessage.decode(bytes).decrypt(with: keys)) { error in
            XCTAssertEqual(
                error as? IKEDecodeError,
                .invalidLength(field: "SK payload length", offset: 30, value: 8))
        }
    }
}
