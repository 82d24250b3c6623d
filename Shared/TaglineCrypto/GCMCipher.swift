// AES-GCM with a 16-byte ICV, as ESP (RFC 4106) and IKEv2 SK payloads
// (RFC 5282) use it. The key material is the AES key followed by a 4-byte
// salt. The 12-byte nonce is the salt followed by the 8-byte IV that each
// packet carries.

import COpenSSL
import TaglineCore

/// AES-GCM with a 16-byte tag. The key is set once per direction, and each
/// call sets only the nonce, so the pointer-based `seal` and `open`
/// allocate nothing.
///
/// An instance is not safe to use from two threads at once.
public final class GCMCipher: AEADCipher {
    /// Tag (ICV) length in bytes: ENCR_AES_GCM_16.
    public static let tagLength = AEADLayout.tagLength
    /// Nonce length in bytes: salt plus explicit IV.
    public static let nonceLength = AEADLayout.nonceLength
    /// Salt length in bytes at the end of the key material (RFC 4106 §8.1).
    public static let saltLength = AEADLayout.saltLength
    /// Explicit IV length in bytes carried in each packet (RFC 4106 §3.1).
    public static let explicitIVLength = AEADLayout.explicitIVLength

    let contexts: AEADContexts

    /// Prepares AES-GCM from IKEv2 key material (EVP_CIPHER_CTX_new,
    /// EVP_CipherInit_ex): `keyMaterial` is the AES key followed by the 4-byte
    /// salt, 20 bytes for `.aesGCM128` and 36 for `.aesGCM256`.
    public convenience init(algorithm: EncryptionAlgorithm, keyMaterial: [UInt8]) throws {
        guard algorithm == .aesGCM128 || algorithm == .aesGCM256 else {
            throw CryptoError.invalidArgument(
                "GCMCipher accepts only aes-gcm-128 and aes-gcm-256, not \(algorithm.rawValue)")
        }
        guard keyMaterial.count == algorithm.keyMaterialLength else {
            throw CryptoError.invalidKeyLength(
                expected: algorithm.keyMaterialLength, actual: keyMaterial.count)
        }
        var (key, salt) = splitSalt(keyMaterial)
        defer {
            wipe(&key)
            wipe(&salt)
        }
        try self.init(algorithm: algorithm, key: key, salt: salt)
    }

    /// Prepares AES-GCM from a bare 16- or 32-byte AES key, for callers that
    /// build the whole 12-byte nonce themselves, such as the GCM specification's
    /// test cases. Only the `nonce:` methods work on such an instance.
    public convenience init(rawKey: [UInt8]) throws {
        switch rawKey.count {
        case 16: try self.init(algorithm: .aesGCM128, key: rawKey, salt: nil)
        case 32: try self.init(algorithm: .aesGCM256, key: rawKey, salt: nil)
        default:
            throw CryptoError.invalidKeyLength(
                expected: rawKey.count < 24 ? 16 : 32, actual: rawKey.count)
        }
    }

    private init(algorithm: EncryptionAlgorithm, key: [UInt8], salt: [UInt8]?) throws {
        contexts = try AEADContexts(
            cipher: FetchedAlgorithms.cipher(for: algorithm), key: key, salt: salt, name: "GCM")
    }

    /// Encrypts `data` in place and writes the 16-byte tag (EVP_CipherInit_ex
    /// with the nonce, EVP_CipherUpdate, EVP_CipherFinal_ex, EVP_CTRL_GCM_GET_TAG).
    /// `explicitIV` must be 8 bytes and `tag` 16 bytes, while `aad` may be empty.
    public func seal(
        explicitIV: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer
    ) throws {
        try contexts.seal(explicitIV: explicitIV, aad: aad, data: data, tag: tag)
    }

    /// Decrypts `data` in place and checks the tag (EVP_CipherInit_ex with the
    /// nonce, EVP_CipherUpdate, EVP_CTRL_GCM_SET_TAG, EVP_CipherFinal_ex).
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
