// ChaCha20-Poly1305 (RFC 8439 §2.8) as ESP (RFC 7634 §2) and IKEv2 SK
// payloads (RFC 7634 §3) use it. The key material is the 32-byte key followed
// by a 4-byte salt. The 12-byte nonce is the salt followed by the 8-byte IV
// that each packet carries, and the tag is 16 bytes. ESP's AAD is the SPI and
// sequence number as for AES-GCM in RFC 4106 §5. The SK payload's AAD is the
// message from the IKE header through the SK payload header, as in RFC 5282.

import COpenSSL
import TaglineCore

/// ChaCha20-Poly1305 with a 16-byte tag. The key is set once per direction,
/// and each call sets only the nonce, so the pointer-based `seal` and `open`
/// allocate nothing.
///
/// An instance is not safe to use from two threads at once.
public final class ChaCha20Poly1305Cipher: AEADCipher {
    /// Key length in bytes, without the salt.
    public static let keyLength = 32
    /// Tag (ICV) length in bytes.
    public static let tagLength = AEADLayout.tagLength
    /// Nonce length in bytes: salt plus explicit IV.
    public static let nonceLength = AEADLayout.nonceLength
    /// Salt length in bytes at the end of the key material (RFC 7634 §2).
    public static let saltLength = AEADLayout.saltLength
    /// Explicit IV length in bytes carried in each packet (RFC 7634 §2).
    public static let explicitIVLength = AEADLayout.explicitIVLength

    let contexts: AEADContexts

    /// Prepares ChaCha20-Poly1305 from IKEv2 key material (EVP_CIPHER_CTX_new,
    /// EVP_CipherInit_ex): the 32-byte key followed by the 4-byte salt, 36 bytes.
    public convenience init(keyMaterial: [UInt8]) throws {
        let expected = EncryptionAlgorithm.chacha20Poly1305.keyMaterialLength
        guard keyMaterial.count == expected else {
            throw CryptoError.invalidKeyLength(expected: expected, actual: keyMaterial.count)
        }
        var (key, salt) = splitSalt(keyMaterial)
        defer {
            wipe(&key)
            wipe(&salt)
        }
        try self.init(key: key, salt: salt)
    }

    /// Prepares ChaCha20-Poly1305 from a bare 32-byte key, for callers that
    /// build the whole 12-byte nonce themselves, such as the RFC 8439 test
    /// vectors. Only the `nonce:` methods work on such an instance.
    public convenience init(rawKey: [UInt8]) throws {
        guard rawKey.count == ChaCha20Poly1305Cipher.keyLength else {
            throw CryptoError.invalidKeyLength(
                expected: ChaCha20Poly1305Cipher.keyLength, actual: rawKey.count)
        }
        try self.init(key: rawKey, salt: nil)
    }

    private init(key: [UInt8], salt: [UInt8]?) throws {
        contexts = try AEADContexts(
            cipher: FetchedAlgorithms.cipher(for: .chacha20Poly1305), key: key, salt: salt,
            name: "ChaCha20-Poly1305")
    }

    /// Encrypts `data` in place and writes the 16-byte tag (EVP_CipherInit_ex
    /// with the nonce, EVP_CipherUpdate, EVP_CipherFinal_ex, EVP_CTRL_AEAD_GET_TAG).
    /// `explicitIV` must be 8 bytes and `tag` 16 bytes, while `aad` may be empty.
    public func seal(
        explicitIV: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer
    ) throws {
        try contexts.seal(explicitIV: explicitIV, aad: aad, data: data, tag: tag)
    }

    /// Decrypts `data` in place and checks the tag (EVP_CipherInit_ex with the
    /// nonce, EVP_CipherUpdate, EVP_CTRL_AEAD_SET_TAG, EVP_CipherFinal_ex).
    ///
    /// Returns false when the tag does not verify. `data` is then zeroed so no
    /// unauthenticated plaintext escapes, and no OpenSSL error stays queued.
    public func open(
        explicitIV: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer
    ) throws -> Bool {
        try contexts.open(explicitIV: explicitIV, aad: aad, data: data, tag: tag)
    }

    /// Encrypts in place under a full 12-byte nonce, like `seal(explicitIV:aad:data:tag:)`.
    public func seal(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer
    ) throws {
        try contexts.seal(nonce: nonce, aad: aad, data: data, tag: tag)
    }

    /// Decrypts in place under a full 12-byte nonce, like `open(explicitIV:aad:data:tag:)`.
    public func open(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer
    ) throws -> Bool {
        try contexts.open(nonce: nonce, aad: aad, data: data, tag: tag)
    }
}
