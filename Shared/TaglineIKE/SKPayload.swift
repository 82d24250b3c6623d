// Encrypted and Authenticated payload, SK (RFC 7296 §3.14; RFC 5282 for AES-GCM,
// RFC 7634 §3 for ChaCha20-Poly1305).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Initialization Vector                     |
// |         (length is block size for encryption algorithm)       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                    Encrypted IKE Payloads                     ~
// +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |               |             Padding (0-255 octets)            |
// +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
// |                                               |  Pad Length   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                    Integrity Checksum Data                    ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Next Payload names the first payload inside. With CBC the checksum is the
// truncated HMAC, keyed with SK_ai or SK_ar, over the whole message from the
// IKE header up to the checksum. With the AEAD ciphers (AES-GCM and
// ChaCha20-Poly1305, which RFC 7634 §3 lays out as RFC 5282 does for GCM) the
// IV is 8 bytes and the checksum is the 16-byte tag. The nonce is the 4-byte
// salt from the end of SK_e followed by the IV. The additional data is the
// message from the IKE header through the SK payload header (RFC 5282 §5.1).

import TaglineCore
import TaglineCrypto

/// The keys that protect the messages one peer sends: SK_ei and SK_ai for the
/// initiator, SK_er and SK_ar for the responder.
public struct SKKeys: Equatable, Sendable, Codable {
    public var encryption: EncryptionAlgorithm
    /// nil for the AEAD ciphers, which authenticate by themselves.
    public var integrity: IntegrityAlgorithm?
    /// For the AEAD ciphers, the key followed by the 4-byte salt.
    public var encryptionKey: SecretBytes
    public var integrityKey: SecretBytes

    public init(
        encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm?,
        encryptionKey: [UInt8], integrityKey: [UInt8]
    ) {
        self.encryption = encryption
        self.integrity = integrity
        self.encryptionKey = SecretBytes(encryptionKey)
        self.integrityKey = SecretBytes(integrityKey)
    }

    /// IV bytes at the start of the SK body: the cipher block for CBC, 8 for the AEADs.
    var ivLength: Int { encryption.ivLength }

    /// Checksum bytes at the end of the SK body.
    var checksumLength: Int {
        encryption.isAEAD ? encryption.aeadTagLength : (integrity?.icvLength ?? 0)
    }
}

enum SKPayload {
    static let gcmExplicitIVLength = 8

    /// Builds a protected message: `header` (whose length is patched here), an
    /// SK payload whose Next Payload is `firstInnerType`, and the encrypted `plaintext`.
    /// `headerFields` follow the generic payload header and are covered by the
    /// checksum or additional data: the Fragment Number and Total Fragments of
    /// an SKF payload (RFC 7383 §2.5), or nothing for SK.
    static func seal(
        header: IKEHeader, firstInnerType: UInt8, plaintext: [UInt8], keys: SKKeys,
        random: (Int) -> [UInt8], headerFields: [UInt8] = []
    ) throws -> [UInt8] {
        // Pad so that plaintext, padding and the Pad Length byte fill whole cipher
        // blocks. The AEADs need no alignment, so they get only the Pad Length byte.
        let block = keys.encryption.isAEAD ? 1 : keys.encryption.blockSize
        let padLength = (block - (plaintext.count + 1) % block) % block
        var padded = plaintext
        padded.append(contentsOf: [UInt8](repeating: 0, count: padLength))
        padded.append(UInt8(padLength))

        let iv = random(keys.ivLength)
        let bodyLength = headerFields.count + iv.count + padded.count + keys.checksumLength

        // Header and SK payload header with their final lengths, because they
        // are covered by the checksum (CBC) or are the additional data (AEAD).
        var header = header
        header.length = UInt32(IKEHeader.size + GenericPayloadHeader.size + bodyLength)
        var writer = ByteWriter()
        header.encode(into: &writer)
        writer.append(firstInnerType)
        writer.append(UInt8(0))
        writer.append(UInt16(GenericPayloadHeader.size + bodyLength))
        writer.append(contentsOf: headerFields)
        var message = writer.bytes

        if keys.encryption.isAEAD {
            let cipher = try makeAEADCipher(
                algorithm: keys.encryption, keyMaterial: keys.encryptionKey.bytes)
            let sealed = try cipher.seal(explicitIV: iv, aad: message, plaintext: padded)
            message += iv + sealed.ciphertext + sealed.tag
            return message
        }

        let cipher = try CBCCipher(algorithm: keys.encryption, key: keys.encryptionKey.bytes)
        message += iv + (try cipher.encrypt(iv: iv, data: padded))
        if let integrity = keys.integrity {
            let mac = try HMACContext(integrity: integrity, key: keys.integrityKey.bytes)
            mac.update(message)
            message += mac.finalize().prefix(integrity.icvLength)
        }
        return message
    }

    /// Verifies and decrypts the SK payload that starts at `skOffset` and ends the
    /// message; returns the inner payload chain without padding. `headerLength`
    /// is 8 for an SKF payload, whose fragment fields precede the IV.
    static func open(
        message: [UInt8], skOffset: Int, keys: SKKeys,
        headerLength: Int = GenericPayloadHeader.size
    ) throws -> [UInt8] {
        let bodyStart = skOffset + headerLength
        let ivEnd = bodyStart + keys.ivLength
        let checksumStart = message.count - keys.checksumLength
        guard checksumStart > ivEnd else {
            throw IKEDecodeError.invalidLength(
                field: "SK payload length", offset: skOffset + GenericPayloadHeader.lengthOffset,
                value: UInt64(message.count - skOffset))
        }
        let iv = Array(message[bodyStart..<ivEnd])
        let ciphertext = Array(message[ivEnd..<checksumStart])
        let checksum = Array(message[checksumStart...])

        let padded: [UInt8]
        if keys.encryption.isAEAD {
            let cipher = try makeAEADCipher(
                algorithm: keys.encryption, keyMaterial: keys.encryptionKey.bytes)
            let aad = Array(message[..<bodyStart])
            guard
                let plain = try cipher.open(
                    explicitIV: iv, aad: aad, ciphertext: ciphertext, tag: checksum)
            else { throw IKEProtocolError.integrityCheckFailed }
            padded = plain
        } else {
            // Check the checksum before decrypting anything (RFC 7296 §3.14).
            if let integrity = keys.integrity {
                let mac = try HMACContext(integrity: integrity, key: keys.integrityKey.bytes)
                mac.update(Array(message[..<checksumStart]))
                let expected = Array(mac.finalize().prefix(integrity.icvLength))
                guard constantTimeEqual(expected, checksum) else {
                    throw IKEProtocolError.integrityCheckFailed
                }
            }
            guard ciphertext.count % keys.encryption.blockSize == 0 else {
                throw IKEDecodeError.invalidLength(
                    field: "SK ciphertext length", offset: ivEnd, value: UInt64(ciphertext.count))
            }
            let cipher = try CBCCipher(algorithm: keys.encryption, key: keys.encryptionKey.bytes)
            padded = try cipher.decrypt(iv: iv, data: ciphertext)
        }

        // The last byte is the Pad Length; padding and that byte must fit the plaintext.
        guard let padLength = padded.last, Int(padLength) + 1 <= padded.count else {
            throw IKEDecodeError.invalidLength(
                field: "SK pad length", offset: ivEnd + max(0, padded.count - 1),
                value: UInt64(padded.last ?? 0))
        }
        return Array(padded[..<(padded.count - Int(padLength) - 1)])
    }
}
