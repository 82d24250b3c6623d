// Group 31: Curve25519 (RFC 8031). The KE payload carries the 32-byte X25519
// public value (RFC 8031 §3.1), which is the little-endian u-coordinate of
// RFC 7748 §5. The shared secret is the 32-byte X25519 output. RFC 8031 has
// the recipient reject an all-zero output, which a low-order peer value causes.

import COpenSSL

enum X25519 {
    /// Bytes of a private key, a public value and a shared secret.
    static let keyLength = 32

    /// Generates a key pair (EVP_PKEY_keygen_init, EVP_PKEY_generate).
    static func generateKey() throws -> OpaquePointer {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "X25519", nil) else {
            throw CryptoError.openSSLFailure("EVP_PKEY_CTX_new_from_name")
        }
        defer { EVP_PKEY_CTX_free(context) }
        try requireSuccess(EVP_PKEY_keygen_init(context), "EVP_PKEY_keygen_init")
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw CryptoError.openSSLFailure("EVP_PKEY_generate")
        }
        return key
    }

    /// Builds a key pair from a 32-byte private key as RFC 7748 §6.1 prints
    /// it, before clamping (EVP_PKEY_new_raw_private_key_ex). OpenSSL clamps
    /// the scalar itself and computes the public value.
    static func makeKey(privateKey: [UInt8]) throws -> OpaquePointer {
        guard privateKey.count == keyLength else {
            throw CryptoError.invalidKeyLength(expected: keyLength, actual: privateKey.count)
        }
        let key = privateKey.withUnsafeBufferPointer {
            EVP_PKEY_new_raw_private_key_ex(nil, "X25519", nil, $0.baseAddress, $0.count)
        }
        guard let key else { throw CryptoError.openSSLFailure("EVP_PKEY_new_raw_private_key_ex") }
        return key
    }

    /// Returns the 32-byte public value of `key` (EVP_PKEY_get_raw_public_key).
    static func publicValue(of key: OpaquePointer) throws -> [UInt8] {
        var value = [UInt8](repeating: 0, count: keyLength)
        var written = keyLength
        let result = value.withUnsafeMutableBufferPointer {
            EVP_PKEY_get_raw_public_key(key, $0.baseAddress, &written)
        }
        guard result == 1, written == keyLength else {
            throw CryptoError.openSSLFailure("EVP_PKEY_get_raw_public_key")
        }
        return value
    }

    /// Builds the peer's public key from its 32-byte public value
    /// (EVP_PKEY_new_raw_public_key_ex). Every 32-byte string is a valid
    /// X25519 input, so only the length is checked here. A low-order value
    /// shows up later as an all-zero shared secret.
    static func makePeerKey(publicValue: [UInt8]) throws -> OpaquePointer {
        guard publicValue.count == keyLength else { throw CryptoError.invalidPeerPublicValue }
        let key = publicValue.withUnsafeBufferPointer {
            EVP_PKEY_new_raw_public_key_ex(nil, "X25519", nil, $0.baseAddress, $0.count)
        }
        guard let key else { throw CryptoError.openSSLFailure("EVP_PKEY_new_raw_public_key_ex") }
        return key
    }
}

/// True when every byte is zero, in time that depends only on the length.
func isAllZero(_ bytes: [UInt8]) -> Bool {
    var accumulated: UInt8 = 0
    for byte in bytes { accumulated |= byte }
    return accumulated == 0
}
