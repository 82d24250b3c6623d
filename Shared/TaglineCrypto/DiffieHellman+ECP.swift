// ECP groups 19, 20 and 21: NIST P-256, P-384 and P-521 (RFC 5903 §3). The
// KE payload carries x || y, each coordinate left-padded to the field length
// (32, 48 and 66 bytes), without the 0x04 prefix of the SEC 1 uncompressed
// encoding (RFC 5903 §7).

import COpenSSL
import TaglineCore

/// One NIST prime curve as IKEv2 uses it.
struct ECPCurve {
    /// OpenSSL's group name for EVP_PKEY_CTX_set_group_name and the "group" parameter.
    let name: StaticString
    /// OpenSSL's NID for EC_GROUP_new_by_curve_name.
    let nid: Int32
    /// Bytes of one coordinate: the field size in bits rounded up to whole bytes.
    let coordinateLength: Int

    static let p256 = ECPCurve(name: "P-256", nid: NID_X9_62_prime256v1, coordinateLength: 32)
    static let p384 = ECPCurve(name: "P-384", nid: NID_secp384r1, coordinateLength: 48)
    /// P-521 has a 521-bit field, so each coordinate takes 66 bytes.
    static let p521 = ECPCurve(name: "P-521", nid: NID_secp521r1, coordinateLength: 66)

    static let uncompressedPrefix: UInt8 = 0x04

    /// SEC 1 uncompressed point: 0x04, x, y.
    var encodedPointLength: Int { 1 + 2 * coordinateLength }

    /// Looks up the curve of an ECP group, or throws for a MODP or Curve25519 group.
    init(group: DHGroup) throws {
        switch group {
        case .ecp256: self = .p256
        case .ecp384: self = .p384
        case .ecp521: self = .p521
        case .modp1024, .modp1536, .modp2048, .modp3072, .curve25519:
            throw CryptoError.invalidArgument("group \(group.rawValue) is not an ECP group")
        }
    }

    private init(name: StaticString, nid: Int32, coordinateLength: Int) {
        self.name = name
        self.nid = nid
        self.coordinateLength = coordinateLength
    }

    /// Generates a key pair on this curve (EVP_PKEY_keygen_init,
    /// EVP_PKEY_CTX_set_group_name, EVP_PKEY_generate).
    func generateKey() throws -> OpaquePointer {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw CryptoError.openSSLFailure("EVP_PKEY_CTX_new_from_name")
        }
        defer { EVP_PKEY_CTX_free(context) }
        try requireSuccess(EVP_PKEY_keygen_init(context), "EVP_PKEY_keygen_init")
        try requireSuccess(
            EVP_PKEY_CTX_set_group_name(context, name.mutableCString),
            "EVP_PKEY_CTX_set_group_name")
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw CryptoError.openSSLFailure("EVP_PKEY_generate")
        }
        return key
    }

    /// Builds a key pair from a big-endian scalar d in 1..<n of exactly
    /// `coordinateLength` bytes, computing the public point d·G
    /// (EC_POINT_mul, EC_POINT_point2oct, EVP_PKEY_fromdata).
    func makeKey(privateKey: [UInt8]) throws -> OpaquePointer {
        guard privateKey.count == coordinateLength else {
            throw CryptoError.invalidKeyLength(expected: coordinateLength, actual: privateKey.count)
        }
        let curve = try Curve(self)
        let scalar = try makeBignum(bigEndian: privateKey)
        defer { BN_clear_free(scalar) }
        guard let order = EC_GROUP_get0_order(curve.group) else {
            throw CryptoError.openSSLFailure("EC_GROUP_get0_order")
        }
        guard BN_is_zero(scalar) == 0, BN_cmp(scalar, order) < 0 else {
            throw CryptoError.invalidArgument("\(name) private key must be in 1..<n")
        }

        try requireSuccess(
            EC_POINT_mul(curve.group, curve.point, scalar, nil, nil, curve.bignumContext),
            "EC_POINT_mul")
        let encoded = try curve.encodePoint()

        let parameters = ParameterList()
        parameters.addString("group", name)
        parameters.addOctets("pub", encoded)
        parameters.addUnsignedInteger("priv", bigEndian: privateKey)
        return try makeEVPKey(type: "EC", selection: keyPairSelection, parameters: parameters)
    }

    /// Returns x || y of `key`'s public point
    /// (EVP_PKEY_get_octet_string_param "encoded-pub-key").
    func publicValue(of key: OpaquePointer) throws -> [UInt8] {
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
        guard written == encodedPointLength, encoded[0] == ECPCurve.uncompressedPrefix else {
            throw CryptoError.openSSL(
                function: "EVP_PKEY_get_octet_string_param",
                detail: "\(name) public key is not a \(encodedPointLength)-byte uncompressed point")
        }
        return Array(encoded[1...])
    }

    /// Builds the peer's public key from x || y after checking that the point
    /// decodes, lies on the curve and is not the point at infinity
    /// (EC_POINT_oct2point, EC_POINT_is_on_curve, EC_POINT_is_at_infinity).
    /// The NIST prime curves have cofactor 1, so every point on the curve
    /// other than infinity has the full prime order.
    func makePeerKey(publicValue: [UInt8]) throws -> OpaquePointer {
        guard publicValue.count == 2 * coordinateLength else {
            throw CryptoError.invalidPeerPublicValue
        }
        let encoded = [ECPCurve.uncompressedPrefix] + publicValue
        let curve = try Curve(self)

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
        parameters.addString("group", name)
        parameters.addOctets("pub", encoded)
        return try makeEVPKey(type: "EC", selection: publicKeySelection, parameters: parameters)
    }

    /// An EC_GROUP with one scratch point and BN_CTX, freed together.
    private final class Curve {
        let group: OpaquePointer
        let point: OpaquePointer
        let bignumContext: OpaquePointer
        let encodedPointLength: Int

        init(_ curve: ECPCurve) throws {
            guard let group = EC_GROUP_new_by_curve_name(curve.nid) else {
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
            self.encodedPointLength = curve.encodedPointLength
        }

        deinit {
            EC_POINT_clear_free(point)
            EC_GROUP_free(group)
            BN_CTX_free(bignumContext)
        }

        /// Encodes the scratch point as an uncompressed SEC 1 point (EC_POINT_point2oct).
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
