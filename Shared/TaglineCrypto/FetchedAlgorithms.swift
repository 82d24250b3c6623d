// Cipher and MAC implementations fetched once per process. OpenSSL 3 looks an
// algorithm up in the provider tables on every EVP_CIPHER_fetch or implicit
// fetch, so each context here is created from these cached objects instead.

import COpenSSL
import TaglineCore

enum FetchedAlgorithms {
    // Each fetched object lives for the whole process and is never freed.
    private static let tripleDESCBC = EVP_CIPHER_fetch(nil, "DES-EDE3-CBC", nil)
    private static let aes128CBC = EVP_CIPHER_fetch(nil, "AES-128-CBC", nil)
    private static let aes192CBC = EVP_CIPHER_fetch(nil, "AES-192-CBC", nil)
    private static let aes256CBC = EVP_CIPHER_fetch(nil, "AES-256-CBC", nil)
    private static let aes128GCM = EVP_CIPHER_fetch(nil, "AES-128-GCM", nil)
    private static let aes256GCM = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)
    private static let chacha20Poly1305 = EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil)
    private static let hmacMAC = EVP_MAC_fetch(nil, "HMAC", nil)

    /// Returns the EVP_CIPHER for a CBC, GCM or ChaCha20-Poly1305 algorithm (EVP_CIPHER_fetch).
    static func cipher(for algorithm: EncryptionAlgorithm) throws -> OpaquePointer {
        let fetched: OpaquePointer?
        let name: String
        switch algorithm {
        case .tripleDES: (fetched, name) = (tripleDESCBC, "DES-EDE3-CBC")
        case .aesCBC128: (fetched, name) = (aes128CBC, "AES-128-CBC")
        case .aesCBC192: (fetched, name) = (aes192CBC, "AES-192-CBC")
        case .aesCBC256: (fetched, name) = (aes256CBC, "AES-256-CBC")
        case .aesGCM128: (fetched, name) = (aes128GCM, "AES-128-GCM")
        case .aesGCM256: (fetched, name) = (aes256GCM, "AES-256-GCM")
        case .chacha20Poly1305: (fetched, name) = (chacha20Poly1305, "ChaCha20-Poly1305")
        case .null:
            throw CryptoError.invalidArgument("ENCR_NULL has no cipher to run")
        }
        guard let fetched else {
            throw CryptoError.openSSL(
                function: "EVP_CIPHER_fetch",
                detail: "cipher \(name) is not available from the loaded OpenSSL providers")
        }
        return fetched
    }

    /// Returns the HMAC EVP_MAC (EVP_MAC_fetch).
    static func hmac() throws -> OpaquePointer {
        guard let hmacMAC else {
            throw CryptoError.openSSL(
                function: "EVP_MAC_fetch",
                detail: "HMAC is not available from the loaded OpenSSL providers")
        }
        return hmacMAC
    }
}

/// OpenSSL digest names for the HMAC "digest" parameter. They are StaticStrings
/// because an OSSL_PARAM keeps the pointer, which must outlive the call.
extension PRFAlgorithm {
    var digestName: StaticString {
        switch self {
        case .hmacMD5: return "MD5"
        case .hmacSHA1: return "SHA1"
        case .hmacSHA256: return "SHA256"
        }
    }
}

extension IntegrityAlgorithm {
    var digestName: StaticString {
        switch self {
        case .hmacMD5_96: return "MD5"
        case .hmacSHA1_96: return "SHA1"
        case .hmacSHA256_128: return "SHA256"
        }
    }
}

extension StaticString {
    /// The string as the `char *` OpenSSL parameter functions take; the bytes
    /// are static, so the pointer stays valid for the whole process.
    var mutableCString: UnsafeMutablePointer<CChar> {
        UnsafeMutablePointer(
            mutating: UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self))
    }
}
