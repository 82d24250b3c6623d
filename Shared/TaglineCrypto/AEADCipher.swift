// The AEAD ciphers of ESP and IKEv2 SK payloads: AES-GCM (RFC 4106, RFC 5282)
// and ChaCha20-Poly1305 (RFC 7634). Both take key material that ends in a
// 4-byte salt, build a 12-byte nonce from that salt and the 8-byte IV each
// packet carries, and append a 16-byte tag.

import COpenSSL
import TaglineCore

/// An AEAD cipher with a 4-byte salt, an 8-byte explicit IV and a 16-byte tag.
/// The pointer-based methods encrypt and decrypt in place and allocate nothing.
///
/// An instance is not safe to use from two threads at once.
public protocol AEADCipher: AnyObject {
    /// Encrypts `data` in place under salt || `explicitIV` and writes the 16-byte tag.
    /// `explicitIV` must be 8 bytes and `tag` 16 bytes, while `aad` may be empty.
    func seal(
        explicitIV: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer) throws

    /// Decrypts `data` in place and checks the tag. Returns false when the tag
    /// does not verify. `data` is then zeroed so no unauthenticated plaintext
    /// escapes, and no OpenSSL error stays queued.
    func open(
        explicitIV: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer
    ) throws -> Bool

    /// Encrypts in place under a full 12-byte nonce, like `seal(explicitIV:aad:data:tag:)`.
    func seal(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer) throws

    /// Decrypts in place under a full 12-byte nonce, like `open(explicitIV:aad:data:tag:)`.
    func open(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer
    ) throws -> Bool

    /// The same contexts for a packet path, or nil for a cipher made from a bare key.
    var packetCipher: AEADPacketCipher? { get }
}

/// Sizes that AES-GCM with ENCR_AES_GCM_16 and ChaCha20-Poly1305 share.
public enum AEADLayout {
    /// Tag (ICV) length in bytes.
    public static let tagLength = 16
    /// Nonce length in bytes: salt plus explicit IV.
    public static let nonceLength = 12
    /// Salt length in bytes at the end of the key material (RFC 4106 §8.1, RFC 7634 §2).
    public static let saltLength = 4
    /// Explicit IV length in bytes carried in each packet (RFC 4106 §3.1, RFC 7634 §2).
    public static let explicitIVLength = 8
}

/// Creates the AEAD cipher of an algorithm from its IKEv2 key material (the
/// key followed by the 4-byte salt): a `GCMCipher` for the AES-GCM algorithms,
/// a `ChaCha20Poly1305Cipher` for ChaCha20-Poly1305. Throws `.invalidArgument`
/// for an algorithm that is not AEAD.
public func makeAEADCipher(algorithm: EncryptionAlgorithm, keyMaterial: [UInt8]) throws
    -> any AEADCipher
{
    switch algorithm {
    case .aesGCM128, .aesGCM256:
        return try GCMCipher(algorithm: algorithm, keyMaterial: keyMaterial)
    case .chacha20Poly1305:
        return try ChaCha20Poly1305Cipher(keyMaterial: keyMaterial)
    case .tripleDES, .aesCBC128, .aesCBC192, .aesCBC256, .null:
        throw CryptoError.invalidArgument("\(algorithm.rawValue) is not an AEAD algorithm")
    }
}

/// The OpenSSL side of an AEAD cipher: one context per direction with the key
/// set once, and a nonce buffer whose first 4 bytes are the salt. Each call
/// sets only the nonce (EVP_CipherInit_ex with a NULL cipher and key), so the
/// calls allocate nothing. `name` only labels error messages.
final class AEADContexts {
    let sealContext: OpaquePointer
    let openContext: OpaquePointer
    /// Salt followed by the current explicit IV. The salt is key material.
    let nonce: UnsafeMutableRawBufferPointer
    /// False for a cipher made from a bare key, which takes only full 12-byte nonces.
    let hasSalt: Bool
    private let name: String

    init(cipher: OpaquePointer, key: [UInt8], salt: [UInt8]?, name: String) throws {
        let sealContext = try makeCipherContext(
            cipher: cipher, key: key, encrypt: true, padding: true)
        let openContext: OpaquePointer
        do {
            openContext = try makeCipherContext(
                cipher: cipher, key: key, encrypt: false, padding: true)
        } catch {
            EVP_CIPHER_CTX_free(sealContext)
            throw error
        }
        self.sealContext = sealContext
        self.openContext = openContext
        self.name = name
        nonce = .allocate(byteCount: AEADLayout.nonceLength, alignment: 8)
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

    func seal(
        explicitIV: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer
    ) throws {
        try loadExplicitIV(explicitIV)
        try seal(nonce: UnsafeRawBufferPointer(nonce), aad: aad, data: data, tag: tag)
    }

    func open(
        explicitIV: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer
    ) throws -> Bool {
        try loadExplicitIV(explicitIV)
        return try open(nonce: UnsafeRawBufferPointer(nonce), aad: aad, data: data, tag: tag)
    }

    /// Encrypts and reads the tag (EVP_CipherUpdate, EVP_CipherFinal_ex,
    /// EVP_CTRL_AEAD_GET_TAG).
    func seal(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer
    ) throws {
        guard tag.count == AEADLayout.tagLength, let tagBase = tag.baseAddress else {
            throw CryptoError.invalidLength(
                "\(name) tag buffer is \(tag.count) bytes, expected \(AEADLayout.tagLength)")
        }
        try start(sealContext, nonce: nonce, aad: aad, data: data)
        var unused: Int32 = 0
        var finalOutput: UInt8 = 0
        if EVP_CipherFinal_ex(sealContext, &finalOutput, &unused) != 1 {
            throw CryptoError.openSSLFailure("EVP_CipherFinal_ex")
        }
        let result = EVP_CIPHER_CTX_ctrl(
            sealContext, EVP_CTRL_AEAD_GET_TAG, Int32(AEADLayout.tagLength), tagBase)
        if result != 1 {
            throw CryptoError.openSSLFailure("EVP_CIPHER_CTX_ctrl(EVP_CTRL_AEAD_GET_TAG)")
        }
    }

    /// Decrypts and checks the tag (EVP_CipherUpdate, EVP_CTRL_AEAD_SET_TAG,
    /// EVP_CipherFinal_ex).
    func open(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer
    ) throws -> Bool {
        guard tag.count == AEADLayout.tagLength, let tagBase = tag.baseAddress else {
            throw CryptoError.invalidLength(
                "\(name) tag is \(tag.count) bytes, expected \(AEADLayout.tagLength)")
        }
        try start(openContext, nonce: nonce, aad: aad, data: data)

        // EVP_CTRL_AEAD_SET_TAG copies the tag and only reads through the pointer.
        let result = EVP_CIPHER_CTX_ctrl(
            openContext, EVP_CTRL_AEAD_SET_TAG, Int32(AEADLayout.tagLength),
            UnsafeMutableRawPointer(mutating: tagBase))
        if result != 1 {
            throw CryptoError.openSSLFailure("EVP_CIPHER_CTX_ctrl(EVP_CTRL_AEAD_SET_TAG)")
        }

        // A tag mismatch is an expected outcome, not an error, so anything OpenSSL queued
        // for it is cleared and the next failure report starts clean. This module's other
        // failures drain the queue as they throw (CryptoError.openSSLFailure), so the clear
        // loses none of their reports. Clearing only on a mismatch spares each verified packet
        // the thread-state lookups of ERR_set_mark and ERR_pop_to_mark (about 360 instructions).
        var unused: Int32 = 0
        var finalOutput: UInt8 = 0
        let verified = EVP_CipherFinal_ex(openContext, &finalOutput, &unused) > 0
        if !verified {
            ERR_clear_error()
            wipe(data)
        }
        return verified
    }

    /// Sets the nonce and runs the AAD and the data through `context`.
    private func start(
        _ context: OpaquePointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer
    ) throws {
        guard nonce.count == AEADLayout.nonceLength, let nonceBase = nonce.baseAddress else {
            throw CryptoError.invalidLength(
                "\(name) nonce is \(nonce.count) bytes, expected \(AEADLayout.nonceLength)")
        }
        let aadLength = try cLength(aad.count, "\(name) AAD")
        let dataLength = try cLength(data.count, "\(name) input")

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

        // Both ciphers are stream modes, so the output may be exactly the input.
        if let dataBase = data.baseAddress, dataLength > 0 {
            let bytes = dataBase.assumingMemoryBound(to: UInt8.self)
            if EVP_CipherUpdate(context, bytes, &written, bytes, dataLength) != 1 {
                throw CryptoError.openSSLFailure("EVP_CipherUpdate")
            }
            guard written == dataLength else {
                throw CryptoError.openSSL(
                    function: "EVP_CipherUpdate",
                    detail: "wrote \(written) of \(dataLength) bytes with \(name)")
            }
        }
    }

    /// Copies the packet's 8-byte IV after the salt in the nonce buffer.
    private func loadExplicitIV(_ explicitIV: UnsafeRawBufferPointer) throws {
        guard hasSalt else {
            throw CryptoError.invalidArgument(
                "a \(name) cipher made from a bare key has no salt, so pass a full 12-byte nonce")
        }
        guard explicitIV.count == AEADLayout.explicitIVLength else {
            throw CryptoError.invalidLength(
                "\(name) explicit IV is \(explicitIV.count) bytes, "
                    + "expected \(AEADLayout.explicitIVLength)")
        }
        UnsafeMutableRawBufferPointer(rebasing: nonce[AEADLayout.saltLength...])
            .copyMemory(from: explicitIV)
    }
}

/// Splits IKEv2 key material into the cipher key and the trailing 4-byte salt.
/// The caller wipes both.
func splitSalt(_ keyMaterial: [UInt8]) -> (key: [UInt8], salt: [UInt8]) {
    let saltStart = keyMaterial.count - AEADLayout.saltLength
    return (Array(keyMaterial[..<saltStart]), Array(keyMaterial[saltStart...]))
}
