// Ephemeral Diffie-Hellman for the IKEv2 KE payload, over OpenSSL 3 EVP_PKEY.

import COpenSSL
import TaglineCore

/// Ephemeral Diffie-Hellman for IKEv2: MODP groups 2, 5, 14 and 15 (RFC 2409
/// §6.2, RFC 3526), ECP groups 19, 20 and 21 (P-256, P-384, P-521, RFC 5903)
/// and group 31 (Curve25519, RFC 8031). Public values are encoded as the KE
/// payload carries them: MODP left-padded to the prime length, ECP as x || y
/// with each coordinate padded to the field length (RFC 5903 §7), Curve25519
/// as the 32-byte X25519 public value.
///
/// The private key lives only inside the EVP_PKEY, which OpenSSL clears when
/// it frees the key in deinit.
public final class DiffieHellman {
    public let group: DHGroup
    /// This side's public value in KE payload encoding, `group.publicValueLength` bytes.
    public let publicValue: [UInt8]
    let key: OpaquePointer

    /// Generates a fresh key pair (EVP_PKEY_keygen_init, EVP_PKEY_generate).
    public init(group: DHGroup) throws {
        self.group = group
        switch group {
        case .modp1024, .modp1536, .modp2048, .modp3072:
            let domain = try MODPDomain(group: group)
            let newKey = try domain.generateKey()
            publicValue = try ownedKey(newKey) { try domain.publicValue(of: $0) }
            key = newKey
        case .ecp256, .ecp384, .ecp521:
            let curve = try ECPCurve(group: group)
            let newKey = try curve.generateKey()
            publicValue = try ownedKey(newKey) { try curve.publicValue(of: $0) }
            key = newKey
        case .curve25519:
            let newKey = try X25519.generateKey()
            publicValue = try ownedKey(newKey) { try X25519.publicValue(of: $0) }
            key = newKey
        }
    }

    /// Builds the key pair from a given private key, for known-answer tests
    /// such as RFC 5903 §8 and RFC 7748 §6.1. For ECP the private key is
    /// big-endian, exactly as long as one coordinate, and in 1..<n. For MODP it
    /// is big-endian, at most the prime length, and in 1..<p-1. For Curve25519
    /// it is the 32-byte string before clamping (RFC 7748 §5). Never use a
    /// fixed private key outside tests.
    public init(group: DHGroup, privateKey: [UInt8]) throws {
        self.group = group
        switch group {
        case .modp1024, .modp1536, .modp2048, .modp3072:
            let domain = try MODPDomain(group: group)
            let newKey = try domain.makeKey(privateKey: privateKey)
            publicValue = try ownedKey(newKey) { try domain.publicValue(of: $0) }
            key = newKey
        case .ecp256, .ecp384, .ecp521:
            let curve = try ECPCurve(group: group)
            let newKey = try curve.makeKey(privateKey: privateKey)
            publicValue = try ownedKey(newKey) { try curve.publicValue(of: $0) }
            key = newKey
        case .curve25519:
            let newKey = try X25519.makeKey(privateKey: privateKey)
            publicValue = try ownedKey(newKey) { try X25519.publicValue(of: $0) }
            key = newKey
        }
    }

    deinit {
        EVP_PKEY_free(key)
    }

    /// Computes the shared secret g^ir (EVP_PKEY_derive_set_peer, EVP_PKEY_derive):
    /// for MODP left-padded to the prime length, for ECP the x coordinate of the
    /// shared point padded to the field length (RFC 5903 §9), for Curve25519
    /// the 32-byte X25519 output.
    ///
    /// Throws `.invalidPeerPublicValue` for a value of the wrong length, an ECP
    /// point not on the curve, a MODP value <= 1 or >= p-1, a MODP value
    /// outside the prime-order subgroup, or a Curve25519 value that yields an
    /// all-zero secret.
    public func computeSharedSecret(peerPublicValue: [UInt8]) throws -> [UInt8] {
        guard peerPublicValue.count == group.publicValueLength else {
            throw CryptoError.invalidPeerPublicValue
        }
        switch group {
        case .modp1024, .modp1536, .modp2048, .modp3072:
            let domain = try MODPDomain(group: group)
            let peer = try domain.makePeerKey(publicValue: peerPublicValue)
            defer { EVP_PKEY_free(peer) }
            return try deriveSharedSecret(key: key, peer: peer, padTo: domain.primeLength)
        case .ecp256, .ecp384, .ecp521:
            let peer = try ECPCurve(group: group).makePeerKey(publicValue: peerPublicValue)
            defer { EVP_PKEY_free(peer) }
            return try deriveSharedSecret(key: key, peer: peer, padTo: nil)
        case .curve25519:
            let peer = try X25519.makePeerKey(publicValue: peerPublicValue)
            defer { EVP_PKEY_free(peer) }
            return try deriveSharedSecret(
                key: key, peer: peer, padTo: nil, rejectsAllZeroSecret: true)
        }
    }
}

/// Runs `body` on a freshly made key and frees the key if `body` throws, because
/// an initializer that throws before setting every property skips deinit.
private func ownedKey<Result>(_ key: OpaquePointer, _ body: (OpaquePointer) throws -> Result)
    rethrows -> Result
{
    do {
        return try body(key)
    } catch {
        EVP_PKEY_free(key)
        throw error
    }
}

/// Derives the shared secret of `key` and `peer` (EVP_PKEY_derive_init,
/// EVP_PKEY_CTX_set_dh_pad, EVP_PKEY_derive_set_peer, EVP_PKEY_derive).
/// `padTo` requests MODP zero-padding to the prime length.
/// `rejectsAllZeroSecret` makes an all-zero secret, and a derive failure,
/// throw `.invalidPeerPublicValue`. OpenSSL 3's X25519 derive already fails on
/// an all-zero output, and the check after it keeps the rule with a library
/// that does not.
private func deriveSharedSecret(
    key: OpaquePointer, peer: OpaquePointer, padTo: Int?, rejectsAllZeroSecret: Bool = false
) throws -> [UInt8] {
    guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else {
        throw CryptoError.openSSLFailure("EVP_PKEY_CTX_new_from_pkey")
    }
    defer { EVP_PKEY_CTX_free(context) }
    try requireSuccess(EVP_PKEY_derive_init(context), "EVP_PKEY_derive_init")
    if padTo != nil {
        try requireSuccess(EVP_PKEY_CTX_set_dh_pad(context, 1), "EVP_PKEY_CTX_set_dh_pad")
    }

    // EVP_PKEY_derive_set_peer runs EVP_PKEY_public_check on the peer key: the
    // range and subgroup check for DH, the on-curve and order check for EC.
    let peerAccepted = withErrorMark { EVP_PKEY_derive_set_peer(context, peer) == 1 }
    guard peerAccepted else { throw CryptoError.invalidPeerPublicValue }

    var length = 0
    try requireSuccess(EVP_PKEY_derive(context, nil, &length), "EVP_PKEY_derive")
    var secret = [UInt8](repeating: 0, count: length)
    let derive = {
        secret.withUnsafeMutableBytes {
            EVP_PKEY_derive(context, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
        }
    }
    let result = rejectsAllZeroSecret ? withErrorMark(derive) : derive()
    guard result == 1 else {
        wipe(&secret)
        if rejectsAllZeroSecret { throw CryptoError.invalidPeerPublicValue }
        throw CryptoError.openSSLFailure("EVP_PKEY_derive")
    }
    if let padTo, length != padTo {
        wipe(&secret)
        throw CryptoError.openSSL(
            function: "EVP_PKEY_derive",
            detail: "DH secret is \(length) bytes despite padding to \(padTo)")
    }
    if length < secret.count {
        for index in length..<secret.count { secret[index] = 0 }
        secret.removeLast(secret.count - length)
    }
    if rejectsAllZeroSecret && isAllZero(secret) {
        throw CryptoError.invalidPeerPublicValue
    }
    return secret
}

/// Runs `body` and then drops every OpenSSL error it queued (ERR_set_mark,
/// ERR_pop_to_mark), for calls whose failure is an expected verdict on
/// untrusted input rather than an error to report.
func withErrorMark<Result>(_ body: () throws -> Result) rethrows -> Result {
    _ = ERR_set_mark()
    defer { _ = ERR_pop_to_mark() }
    return try body()
}
