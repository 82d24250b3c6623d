// CBC-mode ciphers for ESP and IKE SK payloads: 3DES (RFC 2451) and AES
// (RFC 3602), without padding, because both protocols pad the plaintext
// themselves.

import COpenSSL
import TaglineCore

/// CBC-mode cipher (3DES, AES-128/192/256) with no padding. The key is set
/// once, and each call sets only the IV, because EVP_CipherInit_ex with a NULL
/// cipher and key re-uses the prepared context. Encryption and decryption
/// have separate contexts because AES uses a different key schedule for each.
///
/// An instance is not safe to use from two threads at once.
public final class CBCCipher {
    private let encryptContext: OpaquePointer
    private let decryptContext: OpaquePointer
    /// Cipher block size in bytes: 8 for 3DES, 16 for AES. The IV has this size too.
    public let blockSize: Int

    /// Prepares both directions for `key` (EVP_CIPHER_CTX_new, EVP_CipherInit_ex).
    /// Only the CBC algorithms are accepted, and
    /// `key` must be `algorithm.keyMaterialLength` bytes.
    public init(algorithm: EncryptionAlgorithm, key: [UInt8]) throws {
        switch algorithm {
        case .tripleDES, .aesCBC128, .aesCBC192, .aesCBC256:
            break
        case .aesGCM128, .aesGCM256, .chacha20Poly1305, .null:
            throw CryptoError.invalidArgument(
                "CBCCipher accepts only 3des and the aes-cbc algorithms, not \(algorithm.rawValue)")
        }
        guard key.count == algorithm.keyMaterialLength else {
            throw CryptoError.invalidKeyLength(
                expected: algorithm.keyMaterialLength, actual: key.count)
        }
        let cipher = try FetchedAlgorithms.cipher(for: algorithm)
        let encryptContext = try makeCipherContext(cipher: cipher, key: key, encrypt: true)
        do {
            decryptContext = try makeCipherContext(cipher: cipher, key: key, encrypt: false)
        } catch {
            EVP_CIPHER_CTX_free(encryptContext)
            throw error
        }
        self.encryptContext = encryptContext
        self.blockSize = algorithm.blockSize
    }

    deinit {
        // EVP_CIPHER_CTX_free cleanses the key schedules before freeing them.
        EVP_CIPHER_CTX_free(encryptContext)
        EVP_CIPHER_CTX_free(decryptContext)
    }

    /// Encrypts `data` in place (EVP_CipherInit_ex with the IV, EVP_CipherUpdate).
    /// `data.count` must be a multiple of `blockSize` and `iv.count == blockSize`.
    public func encrypt(iv: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer) throws {
        try run(encryptContext, iv: iv, data: data)
    }

    /// Decrypts `data` in place (EVP_CipherInit_ex with the IV, EVP_CipherUpdate).
    /// `data.count` must be a multiple of `blockSize` and `iv.count == blockSize`.
    public func decrypt(iv: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer) throws {
        try run(decryptContext, iv: iv, data: data)
    }

    /// Returns `data` encrypted under `iv`, with the length rules of `encrypt(iv:data:)`.
    public func encrypt(iv: [UInt8], data: [UInt8]) throws -> [UInt8] {
        var output = data
        try iv.withUnsafeBytes { ivBytes in
            try output.withUnsafeMutableBytes { try encrypt(iv: ivBytes, data: $0) }
        }
        return output
    }

    /// Returns `data` decrypted under `iv`, with the length rules of `decrypt(iv:data:)`.
    public func decrypt(iv: [UInt8], data: [UInt8]) throws -> [UInt8] {
        var output = data
        try iv.withUnsafeBytes { ivBytes in
            try output.withUnsafeMutableBytes { try decrypt(iv: ivBytes, data: $0) }
        }
        return output
    }

    private func run(
        _ context: OpaquePointer, iv: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer
    ) throws {
        guard iv.count == blockSize, let ivBase = iv.baseAddress else {
            throw CryptoError.invalidLength("CBC IV is \(iv.count) bytes, expected \(blockSize)")
        }
        guard data.count % blockSize == 0 else {
            throw CryptoError.invalidLength(
                "CBC input of \(data.count) bytes is not a multiple of the \(blockSize)-byte block")
        }
        guard let dataBase = data.baseAddress, data.count > 0 else { return }
        let length = try cLength(data.count, "CBC input")

        // A NULL cipher and key keep the prepared key schedule, and enc -1 keeps the direction.
        let iv = ivBase.assumingMemoryBound(to: UInt8.self)
        if EVP_CipherInit_ex(context, nil, nil, nil, iv, -1) != 1 {
            throw CryptoError.openSSLFailure("EVP_CipherInit_ex")
        }

        // OpenSSL allows the output to be exactly the input, which makes this in place.
        let bytes = dataBase.assumingMemoryBound(to: UInt8.self)
        var written: Int32 = 0
        if EVP_CipherUpdate(context, bytes, &written, bytes, length) != 1 {
            throw CryptoError.openSSLFailure("EVP_CipherUpdate")
        }
        guard written == length else {
            throw CryptoError.openSSL(
                function: "EVP_CipherUpdate",
                detail: "wrote \(written) of \(length) bytes with padding disabled")
        }
    }
}

/// Creates a cipher context with the cipher and key set for one direction (EVP_CIPHER_CTX_new,
/// EVP_CipherInit_ex), and with `padding` false also padding off (EVP_CIPHER_CTX_set_padding).
/// The IV is set per operation. ESP and IKE pad the plaintext themselves, so a block cipher
/// needs padding off. The AEAD ciphers are stream modes that ignore the setting, so they
/// leave it on: OpenSSL 3.0 applies a disabled padding again on every EVP_CipherInit_ex,
/// through a parameter lookup by name that costs about 380 instructions per packet.
func makeCipherContext(cipher: OpaquePointer, key: [UInt8], encrypt: Bool, padding: Bool = false)
    throws -> OpaquePointer
{
    guard let context = EVP_CIPHER_CTX_new() else {
        throw CryptoError.openSSLFailure("EVP_CIPHER_CTX_new")
    }
    let result = key.withUnsafeBytes { keyBytes in
        EVP_CipherInit_ex(
            context, cipher, nil, keyBytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
            nil, encrypt ? 1 : 0)
    }
    if result != 1 {
        let error = CryptoError.openSSLFailure("EVP_CipherInit_ex")
        EVP_CIPHER_CTX_free(context)
        throw error
    }
    if !padding && EVP_CIPHER_CTX_set_padding(context, 0) != 1 {
        let error = CryptoError.openSSLFailure("EVP_CIPHER_CTX_set_padding")
        EVP_CIPHER_CTX_free(context)
        throw error
    }
    return context
}
