// The per-packet form of an AEAD cipher for the ESP packet path. It makes the
// same OpenSSL calls as AEADContexts.seal and open, on plain pointers. The
// calls inline into the caller, so they cost no protocol call and no throw.

import COpenSSL

/// The two OpenSSL contexts and the nonce buffer of an AES-GCM or ChaCha20-Poly1305 cipher
/// with a salt. A copy borrows them from the cipher that made it and is valid only while that
/// cipher lives. Like the cipher, it is not safe to use from two threads at once.
public struct AEADPacketCipher {
    @usableFromInline let sealContext: OpaquePointer
    @usableFromInline let openContext: OpaquePointer
    /// Salt followed by the current explicit IV.
    @usableFromInline let nonce: UnsafeMutableRawPointer

    init(sealContext: OpaquePointer, openContext: OpaquePointer, nonce: UnsafeMutableRawPointer) {
        self.sealContext = sealContext
        self.openContext = openContext
        self.nonce = nonce
    }

    /// Encrypts `dataLength` bytes at `data` in place under salt || the 8 bytes at
    /// `explicitIV`, with `aadLength` bytes at `aad` as additional data, and writes the
    /// 16-byte tag to `tag`. Returns false when an OpenSSL call fails or a length does not
    /// fit a C int.
    @inlinable @inline(__always)
    public func seal(
        explicitIV: UnsafeRawPointer, aad: UnsafeRawPointer, aadLength: Int,
        data: UnsafeMutableRawPointer, dataLength: Int, tag: UnsafeMutableRawPointer
    ) -> Bool {
        guard start(sealContext, explicitIV, aad, aadLength, data, data, dataLength) else {
            return false
        }
        var written: Int32 = 0
        var finalOutput: UInt8 = 0
        return EVP_CipherFinal_ex(sealContext, &finalOutput, &written) == 1
            && EVP_CIPHER_CTX_ctrl(
                sealContext, EVP_CTRL_AEAD_GET_TAG, Int32(AEADLayout.tagLength), tag) == 1
    }

    /// Decrypts `dataLength` bytes from `input` to `output`, which is either exactly `input`
    /// or does not overlap it, and checks the 16-byte tag at `tag`. On `.tagMismatch` the
    /// output is zeroed and OpenSSL's error queue cleared.
    @inlinable @inline(__always)
    public func open(
        explicitIV: UnsafeRawPointer, aad: UnsafeRawPointer, aadLength: Int,
        input: UnsafeRawPointer, output: UnsafeMutableRawPointer, dataLength: Int,
        tag: UnsafeRawPointer
    ) -> AEADOpenOutcome {
        // EVP_CTRL_AEAD_SET_TAG copies the tag and only reads through the pointer.
        guard start(openContext, explicitIV, aad, aadLength, input, output, dataLength),
            EVP_CIPHER_CTX_ctrl(
                openContext, EVP_CTRL_AEAD_SET_TAG, Int32(AEADLayout.tagLength),
                UnsafeMutableRawPointer(mutating: tag)) == 1
        else { return .failed }
        var written: Int32 = 0
        var finalOutput: UInt8 = 0
        guard EVP_CipherFinal_ex(openContext, &finalOutput, &written) > 0 else {
            AEADPacketCipher.rejectTag(data: output, dataLength: dataLength)
            return .tagMismatch
        }
        return .verified
    }

    /// Sets the nonce, then runs the AAD and the data from `input` to `output` through
    /// `context`.
    @inlinable @inline(__always)
    func start(
        _ context: OpaquePointer, _ explicitIV: UnsafeRawPointer, _ aad: UnsafeRawPointer,
        _ aadLength: Int, _ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer,
        _ dataLength: Int
    ) -> Bool {
        guard let aadCount = Int32(exactly: aadLength), let dataCount = Int32(exactly: dataLength)
        else { return false }
        nonce.storeBytes(
            of: explicitIV.loadUnaligned(as: UInt64.self), toByteOffset: AEADLayout.saltLength,
            as: UInt64.self)

        // A NULL cipher and key keep the prepared key, and enc -1 keeps the direction.
        var written: Int32 = 0
        guard
            EVP_CipherInit_ex(
                context, nil, nil, nil, nonce.assumingMemoryBound(to: UInt8.self), -1) == 1
        else { return false }

        // A NULL output pointer makes EVP_CipherUpdate take the bytes as AAD.
        if aadCount > 0 {
            let aadBytes = aad.assumingMemoryBound(to: UInt8.self)
            guard EVP_CipherUpdate(context, nil, &written, aadBytes, aadCount) == 1 else {
                return false
            }
        }
        // Both ciphers are stream modes, so the output may be exactly the input.
        guard dataCount > 0 else { return true }
        return EVP_CipherUpdate(
            context, output.assumingMemoryBound(to: UInt8.self), &written,
            input.assumingMemoryBound(to: UInt8.self), dataCount) == 1
            && written == dataCount
    }

    /// Zeroes unauthenticated plaintext and clears what OpenSSL queued for the mismatch.
    @usableFromInline
    static func rejectTag(data: UnsafeMutableRawPointer, dataLength: Int) {
        ERR_clear_error()
        if dataLength > 0 { OPENSSL_cleanse(data, dataLength) }
    }
}

/// The result of `AEADPacketCipher.open`.
public enum AEADOpenOutcome {
    case verified
    /// The tag does not match: forged, corrupted, or under another key.
    case tagMismatch
    /// An OpenSSL call failed, or a length does not fit a C int.
    case failed
}

extension AEADContexts {
    /// The contexts as an `AEADPacketCipher`, or nil for a cipher made from a bare key, which
    /// has no salt to put before the packet's IV.
    var packetCipher: AEADPacketCipher? {
        guard hasSalt, let base = nonce.baseAddress else { return nil }
        return AEADPacketCipher(sealContext: sealContext, openContext: openContext, nonce: base)
    }
}

extension GCMCipher {
    /// The per-packet form of this cipher, valid while this cipher lives.
    public var packetCipher: AEADPacketCipher? { contexts.packetCipher }
}

extension ChaCha20Poly1305Cipher {
    /// The per-packet form of this cipher, valid while this cipher lives.
    public var packetCipher: AEADPacketCipher? { contexts.packetCipher }
}
