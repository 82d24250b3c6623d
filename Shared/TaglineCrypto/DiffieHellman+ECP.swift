// ECP group 19: NIST P-256 (RFC 5903 §3.1). The KE payload carries x || y,
// 32 bytes each, without the 0x04 prefix of the SEC 1 uncompressed encoding.

import COpenSSL

enum ECP256 {
    static let coordinateLength = 32
    /// SEC 1 uncompressed point: 0x04, x, y.
    static let encodedPointLength = 65
    static let uncompressedPrefix: UInt8 = 0x04

    /// Generates a P-256 key pair (EVP_PKEY_keygen_init,
    /// EVP_PKEY_CTX_set_group_name, EVP_PKEY_generate).
    static func generateKey() throws -> OpaquePointer {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw CryptoError.openSSLFailure("EVP_PKEY_CTX_new_from_name")
        }
        defer { EVP_PKEY_CTX_free(context) }
        try requireSuccess(EVP_PKEY_keygen_init(context), "EVP_PKEY_keygen_init")
        try requireSuccess(
            EVP_PKEY_CTX_set_group_name(context, "P-256"), "EVP_PKEY_CTX_set_group_name")
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw CryptoError.openSSLFailure("EVP_PKEY_generate")
        }
        return key
    }

    /// Builds a key pair from a 32-byte big-endian scalar d in 1..<n, computing
    /// the public point d·G (EC_POINT_mul, EC_POINT_point2oct, EVP_PKEY_fromdata).
    static func makeKey(privateKey: [UInt8]) throws -> OpaquePointer {
        guard privateKey.count == coordinateLength else {
            throw CryptoError.invalidKeyLength(expected: coordinateLength, actual: privateKey.count)
        }
        let curve = try Curve()
        let scalar = try makeBignum(bigEndian: privateKey)
        defer { BN_clear_free(scalar) }
        guard let order = EC_GROUP_get0_order(curve.group) else {
            throw CryptoError.openSSLFailure("EC_GROUP_get0_order")
        }
        guard BN_is_zero(scalar) == 0, BN_cmp(scalar, order) < 0 else {
            throw CryptoError.invalidArgument("P-256 private key must be in 1..<n")
        }

        try requireSuccess(
            EC_POINT_mul(curve.group, curve.point, scalar, nil, nil, curve.bignumContext),
            "EC_POINT_mul")
        let encoded = try curve.encodePoint()

        let parameters = ParameterList()
        parameters.addString("group", "P-256")
        parameters.addOctets("pub", encoded)
        parameters.addUnsignedInteger("priv", bigEndian: privateKey)
        return try makeEVPKey(type: "EC", selection: keyPairSelection, parameters: parameters)
    }

    /// Returns x || y of `key`'s public point
    /// (EVP_PKEY_get_octet_string_param "encoded-pub-key").
    static func publicValue(of key: OpaquePointer) throws -> [UInt8] {
        var encoded = [UInt8](repeating: 0, count: encodedPointLength)
        var written = 0
        let result = encoded.withUnsafeMutableBytes {
            EVP_PKEY_get_octet_string_param(
                key, "encoded-pub-key", $0.baseAddress!.assumingMemoryBound(to: UInt8.self),
                $0.count, &written)
        }
        guard result == 1 else {
            throw CryptoError.openSSLFailure("EVP_PKEY_get_octet_string_param")
        }
        guard written == encodedPointLength, encoded[0] == uncompressedPrefix else {
            throw CryptoError.openSSL(
                function: "EVP_PKEY_get_octet_string_param",
                detail: "P-256 public key is not a \(encodedPointLength)-byte uncompressed point")
        }
        return Array(encoded[1...])
    }

    /// Builds the peer's public key from x || y after checking that the point
    /// decodes, lies on the curve and is not the point at infinity
    /// (EC_POINT_oct2point, EC_POINT_is_on_curve, EC_POINT_is_at_infinity).
    static func makePeerKey(publicValue: [UInt8]) throws -> OpaquePointer {
        guard publicValue.count == 2 * coordinateLength else {
            throw CryptoError.invalidPeerPublicValue
        }
        let encoded = [uncompressedPrefix] + publicValue
        let curve = try Curve()

        // oct2point rejects coordinates >= p and points off the curve. Those
        // failures describe the peer's value, so their queued errors are dropped.
        let valid = withErrorMark { () -> Bool in
            let decoded = encoded.withUnsafeBytes {
                EC_POINT_oct2point(
                    curve.group, curve.point, $0.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    $0.count, curve.bignumContext)
            }
            return decoded == 1
                && EC_POINT_is_on_curve(curve.group, curve.point, curve.bignumContext) == 1
                && EC_POINT_is_at_infinity(curve.group, curve.point) == 0
        }
        guard valid else { throw CryptoError.invalidPeerPublicValue }

        let parameters = ParameterList()
        parameters.addString("group", "P-256")
        parameters.addOctets("pub", encoded)
        return try makeEVPKey(type: "EC", selection: publicKeySelection, parameters: parameters)
    }

    /// A P-256 EC_GROUP with one scratch point and BN_CTX, freed together.
    private final class Curve {
        let group: OpaquePointer
        let point: OpaquePointer
        let bignumContext: OpaquePointer

        init() throws {
            guard let group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1) else {
                throw CryptoError.openSSLFailure("EC_GROUP_new_by_curve_name")
            }
            guard let point = EC_POINT_new(group) else {
                EC_GROUP_free(group)
                throw CryptoError.openSSLFailure("EC_POINT_new")
            }
            guard let bignumContext = BN_CTX_new() else {
                EC_POINT_free(point)
                EC_GROUP_free(group)
                throw CryptoError.openSSLFailure("BN_CTX_new")
            }
            self.group = group
            self.point = point
            self.bignumContext = bignumContext
        }

        deinit {
            EC_POINT_clear_free(point)
            EC_GROUP_free(group)
            BN_CTX_free(bignumContext)
        }

        /// Encodes the scratch point as 65 uncompressed bytes (EC_POINT_point2oct).
        func encodePoint() throws -> [UInt8] {
            var encoded = [UInt8](repeating: 0, count: encodedPointLength)
            let written = encoded.withUnsafeMutableBytes {
                EC_POINT_point2oct(
                    group, point, POINT_CONVERSION_UNCOMPRESSED,
                    $0.baseAddress!.assumingMemoryBound(to: UInt8.self), $0.count, bignumContext)
            }
            guard written == encodedPointLength else {
                throw CryptoError.openSSLFailure("EC_POINT_point2oct")
            }
            return encoded
        }
    }
}
