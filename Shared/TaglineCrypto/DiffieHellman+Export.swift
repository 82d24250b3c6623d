// The private key of a Diffie-Hellman key pair, exported so that a negotiator
// can save an exchange in flight with the rest of its IKE SA state and finish
// it after a restart.

import COpenSSL
import TaglineCore

extension DiffieHellman {
    /// Returns the private key in the form `init(group:privateKey:)` takes:
    /// big-endian and padded to the prime length for MODP or to the
    /// coordinate length for ECP, and the 32 raw bytes for Curve25519.
    public func exportPrivateKey() throws -> SecretBytes {
        switch group {
        case .modp1024, .modp1536, .modp2048, .modp3072:
            return SecretBytes(try privateNumber(length: try MODPDomain(group: group).primeLength))
        case .ecp256, .ecp384, .ecp521:
            return SecretBytes(
                try privateNumber(length: try ECPCurve(group: group).coordinateLength))
        case .curve25519:
            var bytes = [UInt8](repeating: 0, count: X25519.keyLength)
            var written = bytes.count
            let status = bytes.withUnsafeMutableBufferPointer {
                EVP_PKEY_get_raw_private_key(key, $0.baseAddress, &written)
            }
            guard status == 1, written == X25519.keyLength else {
                throw CryptoError.openSSLFailure("EVP_PKEY_get_raw_private_key")
            }
            return SecretBytes(bytes)
        }
    }

    /// Returns the "priv" parameter of the key, left-padded to `length` bytes
    /// (EVP_PKEY_get_bn_param, BN_bn2binpad).
    private func privateNumber(length: Int) throws -> [UInt8] {
        var number: OpaquePointer?
        guard EVP_PKEY_get_bn_param(key, "priv", &number) == 1, let number else {
            throw CryptoError.openSSLFailure("EVP_PKEY_get_bn_param")
        }
        defer { BN_clear_free(number) }
        return try bigEndianBytes(number, length: length)
    }
}
