// AES-GCM with a 16-byte ICV, as ESP (RFC 4106) and IKEv2 SK payloads
// (RFC 5282) use it. The key material is the AES key followed by a 4-byte
// salt. The 12-byte nonce is the salt followed by the 8-byte IV that each
// packet carries.

import COpenSSL
import TaglineCore

/// AES-GCM with a 16-byte tag. The key is set once per direction, and each
/// call sets only the nonce (EVP_CipherInit_ex with a NULL cipher and key).
/// The nonce is built in a buffer the instance owns, so the pointer-based
/// `seal` and `open` allocate nothing.
///
/// An instance is not safe to use from two threads at once.
public final class GCMCipher {
    /// Tag (ICV) length in bytes: ENCR_AES_GCM_16.
    public static let tagLength = 16
    /// Nonce length in bytes: salt plus explicit IV.
    public static let nonceLength = 12
    /// Salt length in bytes at the end of the key material (RFC 4106 §8.1).
    public static let saltLength = 4
    /// Explicit IV length in bytes carried in each packet (RFC 4106 §3.1).
    public static let explicitIVLength = 8

    private let sealContext: OpaquePointer
    private let openContext: OpaquePointer
    /// Salt followed by the current explicit IV. The salt is key material.
    private let nonce: UnsafeMutableRawBufferPointer
    /// False for `init(rawKey:)`, which takes only full 12-byte nonces.
    private let hasSalt: Bool

    /// Prepares AES-GCM from IKEv2 key material (EVP_CIPHER_CTX_new,
    /// EVP_CipherInit_ex): `keyMaterial` is the AES key followed by the 4-byte
    /// salt, 20 bytes for `.aesGCM128` and 36 for `.aesGCM256`.
    public convenience init(algorithm: EncryptionAlgorithm, keyMaterial: [UInt8]) throws {
        guard algorithm.isAEAD else {
            throw CryptoError.invalidArgument(
                "GCMCipher accepts only aes-gcm-128 and aes-gcm-256, not \(algorithm.rawValue)")
        }
        guard keyMaterial.count == algorithm.keyMaterialLength else {
            throw CryptoError.invalidKeyLength(
                expected: algorithm.keyMaterialLength, actual: keyMaterial.count)
        }
        let saltStart = keyMaterial.count - GCMCipher.saltLength
        var key = Array(keyMaterial[..<saltStart])
        var salt = Array(keyMaterial[saltStart...])
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
        let cipher = try FetchedAlgorithms.cipher(for: algorithm)
        let sealContext = try makeCipherContext(cipher: cipher, key: key, encrypt: true)
        let openContext: OpaquePointer
        do {
            openContext = try makeCipherContext(cipher: cipher, key: key, encrypt: false)
        } catch {
            EVP_CIPHER_CTX_free(sealContext)
            throw error
        }
        self.sealContext = sealContext
        self.openContext = openContext
        nonce = .allocate(byteCount: GCMCipher.nonceLength, alignment: 8)
        nonce.initializeMemory(as: UInt8.self, repeating: 0)
        if let salt {
            nonce.copyBytes(from: salt)
        }
        hasSalt = salt != nil
    }

    deinit {
        EVP_CIPHER_CTX_free(sealContext)
        EVP_CIPHER_CTX_free(openContext)
        wipe(nonce)
        nonce.deallocate()
    }

    /// Encrypts `data` in place and writes the 16-byte tag (EVP_CipherInit_ex
    /// with the nonce, EVP_CipherUpdate, EVP_CipherFinal_ex, EVP_CTRL_GCM_GET_TAG).
    /// `explicitIV` must be 8 bytes and `tag` 16 bytes, while `aad` may be empty.
    public func seal(
        explicitIV: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer
    ) throws {
        try loadExplicitIV(explicitIV)
        try seal(nonce: UnsafeRawBufferPointer(nonce), aad: aad, data: data, tag: tag)
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
        try loadExplicitIV(explicitIV)
        return try open(nonce: UnsafeRawBufferPointer(nonce), aad: aad, data: data, tag: tag)
    }

    /// Encrypts in place under a full 12-byte nonce, like `seal(explicitIV:aad:data:tag:)`.
    public func seal(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer
    ) throws {
        guard tag.count == GCMCipher.tagLength, let tagBase = tag.baseAddress else {
            throw CryptoError.invalidLength(
                "GCM tag buffer is \(tag.count) bytes, expected \(GCMCipher.tagLength)")
        }
        try start(sealContext, nonce: nonce, aad: aad, data: data)
        var unused: Int32 = 0
        var finalOutput: UInt8 = 0
        if EVP_CipherFinal_ex(sealContext, &finalOutput, &unused) != 1 {
            throw CryptoError.openSSLFailure("EVP_CipherFinal_ex")
        }
        let result = EVP_CIPHER_CTX_ctrl(
            sealContext, EVP_CTRL_GCM_GET_TAG, Int32(GCMCipher.tagLength), tagBase)
        if result != 1 {
            throw CryptoError.openSSLFailure("EVP_CIPHER_CTX_ctrl(EVP_CTRL_GCM_GET_TAG)")
        }
    }

    /// Decrypts in place under a full 12-byte nonce, like `open(explicitIV:aad:data:tag:)`.
    public func open(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer
    ) throws -> Bool {
        guard tag.count == GCMCipher.tagLength, let tagBase = tag.baseAddress else {
            throw CryptoError.invalidLength(
                "GCM tag is \(tag.count) bytes, expected \(GCMCipher.tagLength)")
        }
        try start(openContext, nonce: nonce, aad: aad, data: data)

        // EVP_CTRL_GCM_SET_TAG copies the tag and only reads through the pointer.
        let result = EVP_CIPHER_CTX_ctrl(
            openContext, EVP_CTRL_GCM_SET_TAG, Int32(GCMCipher.tagLength),
            UnsafeMutableRawPointer(mutating: tagBase))
        if result != 1 {
            throw CryptoError.openSSLFailure("EVP_CIPHER_CTX_ctrl(EVP_CTRL_GCM_SET_TAG)")
        }

        // A tag mismatch is an expected outcome, not an error, so anything
        // OpenSSL queued for it is dropped and the next failure report starts clean.
        _ = ERR_set_mark()
        var unused: Int32 = 0
        var finalOutput: UInt8 = 0
        let verified = EVP_CipherFinal_ex(openContext, &finalOutput, &unused) > 0
        _ = ERR_pop_to_mark()
        if !verified {
            wipe(data)
        }
        return verified
    }

    /// Sets the nonce and runs the AAD and the data through `context`.
    private func start(
        _ context: OpaquePointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer
    ) throws {
        guard nonce.count == GCMCipher.nonceLength, let nonceBase = nonce.baseAddress else {
            throw CryptoError.invalidLength(
                "GCM nonce is \(nonce.count) bytes, expected \(GCMCipher.nonceLength)")
        }
        let aadLength = try cLength(aad.count, "GCM AAD")
        let dataLength = try cLength(data.count, "GCM input")

        // A NULL cipher and key keep the prepared key, and enc -1 keeps the direction.
        let noncePointer = nonceBase.assumingMemoryBound(to: UInt8.self)
        if EVP_CipherInit_ex(context, nil, nil, nil, noncePointer, -1) != 1 {
            throw CryptoError.openSSLFailure("EVP_CipherInit_ex")
        }

        // A NULL output pointer makes EVP_CipherUpdate take the bytes as AAD.
        var written: Int32 = 0
        if let aadBase = aad.baseAddress, aadLength > 0 {
            let aadBytes = aadBase.assumingMemoryBound(to: UInt8.self)
            if EVP_CipherUpdate(context, nil, &written, aadBytes, aadLength) != 1 {
                throw CryptoError.openSSLFailure("EVP_CipherUpdate(AAD)")
            }
        }

        // GCM is a stream mode, so the output may be exactly the input.
        if let dataBase = data.baseAddress, dataLength > 0 {
            let bytes = dataBase.assumingMemoryBound(to: UInt8.self)
            if EVP_CipherUpdate(context, bytes, &written, bytes, dataLength) != 1 {
                throw CryptoError.openSSLFailure("EVP_CipherUpdate")
            }
            guard written == dataLength else {
                throw CryptoError.openSSL(
                    function: "EVP_CipherUpdate",
                    detail: "wrote \(written) of \(dataLength) bytes in GCM mode")
            }
        }
    }

    /// Copies the packet's 8-byte IV after the salt in the nonce buffer.
    private func loadExplicitIV(_ explicitIV: UnsafeRawBufferPointer) throws {
        guard hasSalt else {
            throw CryptoError.invalidArgument(
                "a GCMCipher made with init(rawKey:) has no salt, so pass a full 12-byte nonce")
        }
        guard explicitIV.count == GCMCipher.explicitIVLength else {
            throw CryptoError.invalidLength(
                "GCM explicit IV is \(explicitIV.count) bytes, "
                    + "expected \(GCMCipher.explicitIVLength)")
        }
        UnsafeMutableRawBufferPointer(rebasing: nonce[GCMCipher.saltLength...])
            .copyMemory(from: explicitIV)
    }
}
